using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Billing;

/// <summary>Where an organisation's budget stands this month: spend so far (its subtree's, before tax), the forecast, and its alerts.</summary>
public sealed record BudgetStatus(Guid OrganisationId, string Month, string Currency, decimal Amount, decimal Spent, decimal Forecast, bool Hard,
    bool Refusing, IReadOnlyList<decimal> Thresholds, IReadOnlyList<BudgetAlert> RaisedNow);

/// <summary>
/// Checks the budgets of a tenant for the month under way: the month priced with the usage so far (what its invoices would
/// be if nothing more were used: fixed fees in full, usage to date), rolled up the tree, each budget evaluated
/// (Budgets.Evaluate), new alerts appended to the account as events (delivered like every event), and a hard budget at
/// 100 % recorded as refusing, which the quotas enforce (AI compute reservations of the subtree are refused).
/// </summary>
public sealed class BudgetChecker(BillingStore store, OrganisationStore organisations, MonthCloser closer, Quotas.QuotaPolicies policies)
{
    public async Task<(IReadOnlyList<BudgetStatus> Budgets, Problem? Problem)> CheckAsync(Guid tenantId, bool raise, CancellationToken cancellation)
    {
        var now = store.Now;
        var (tenant, templateCards) = await store.TenantAsync(tenantId, cancellation);
        if (tenant is null) return ([], Problem.NotFound("tenant"));
        var tree = await organisations.ReadAsync(tenantId, g => g.Root is { } r
            ? (Root: r, Parents: (IReadOnlyDictionary<Guid, Guid?>)g.SelfAndDescendants(r).ToDictionary(n => n.Id, n => n.ParentId)) : default, cancellation);
        if (tree.Parents is null) return ([], Problem.NotFound("tenant"));
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        // Raising takes the billing lock (alerts once, in order); a reading does not (it holds nothing up).
        if (raise) await tx.LockAsync("billing", cancellation);
        var account = await store.LoadAccountAsync(tx.Session, tenantId, cancellation);
        if (account.Terms is not { } terms || account.Budgets.Count == 0) return ([], null);
        var (year, month) = (now.UtcDateTime.Year, now.UtcDateTime.Month);
        var name = BillingMonths.Name(year, month);
        var cards = account.CardsWith(templateCards);
        if (Pricing.CardsFor(year, month, cards).Select(c => c.Currency).Distinct().Count() > 1) return ([], null);
        var usage = await closer.UsageAsync(tx, year, month, cards, tree.Parents, cancellation);
        var figures = Chargeback.Compute(year, month, cards, usage, [], tree.Root, new RecoveryTerms(terms.Recovery, terms.Subsidy, terms.Split, terms.CostCentres));
        // A budget measures what its subtree costs, before any subsidy (under showback an organisation is charged nothing,
        // but its costs are what its budget is for); the month's fixed charges (fees, the commitment, licences and
        // allocations held to the month's end) are counted once, not projected.
        var spent = CostRecovery.RollUp(tree.Parents, figures.Organisations.ToDictionary(o => o.Key, o => o.Value.Lines.Sum(l => l.Shown)));
        var fixedPart = CostRecovery.RollUp(tree.Parents, figures.Organisations.ToDictionary(o => o.Key,
            o => o.Value.Lines.Where(l => l.Metric is Pricing.Fixed or Pricing.Commitment || Pricing.IsHeld(l.Metric)).Sum(l => l.Shown)));
        var days = DateTime.DaysInMonth(year, month);
        var statuses = new List<BudgetStatus>();
        var events = new List<object>();
        foreach (var (org, budget) in account.Budgets.OrderBy(b => b.Key))
        {
            // A hard budget always refuses at 100 %, whatever thresholds alert before it.
            var thresholds = budget.Hard ? budget.Thresholds.Append(1.0m).Distinct().Order().ToList() : budget.Thresholds;
            var standing = Budgets.Evaluate(new Budget(budget.Amount, thresholds, budget.Forecast, budget.Hard), spent.GetValueOrDefault(org),
                now.UtcDateTime.Day, days, account.RaisedIn(name, org), fixedPart.GetValueOrDefault(org));
            var alreadyRefusing = account.AlertMonth == name && account.Refusing.Contains(org);
            var refusing = standing.Refuse && !alreadyRefusing;
            foreach (var alert in standing.Raised)
            {
                var refuses = refusing && alert.Basis == Budgets.Actual && alert.Threshold >= 1;
                if (refuses) refusing = false;
                events.Add(new BudgetThresholdCrossed(org, name, alert.Threshold, alert.Basis, alert.Spent, Currencies.Round(figures.Currency, alert.Forecast),
                    alert.Amount, figures.Currency, refuses, Actor.System, now));
            }
            statuses.Add(new BudgetStatus(org, name, figures.Currency, budget.Amount, spent.GetValueOrDefault(org), Currencies.Round(figures.Currency, standing.Forecast),
                budget.Hard, alreadyRefusing || events.OfType<BudgetThresholdCrossed>().Any(e => e.OrganisationId == org && e.Refusing), budget.Thresholds, standing.Raised));
        }
        if (raise)
        {
            // The refusals the quotas enforce are re-derived from the sealed account at every check: a row deleted with the
            // service role's password (to escape a hard budget) is back within a check; one planted for an organisation
            // the account does not refuse is removed.
            var refusing = account.AlertMonth == name ? account.Refusing.ToArray() : [];
            await tx.ExecuteAsync($"""
                with wanted as (select unnest($3::uuid[]) as org_id),
                     added as (insert into {store.Schema}.budget_refusals (tenant_id, org_id, month)
                               select $1, org_id, $2 from wanted on conflict do nothing returning 1),
                     removed as (delete from {store.Schema}.budget_refusals r where r.tenant_id = $1 and r.month = $2
                                 and r.org_id <> all($3::uuid[]) returning 1)
                select (select count(*) from added) + (select count(*) from removed)
                """, cancellation, tenantId.ToString(), name, refusing);
            if (events.Count > 0) await store.AppendAccountAsync(tx, account, events, cancellation);
            // The session commits its transaction only when it has work of its own: give it some when no event was raised.
            else tx.Session.QueueSqlCommand("select 1");
            if (!await tx.TryCommitAsync(cancellation)) return ([], Problem.ConcurrentWrite());
            policies.Invalidate(tenantId);
        }
        return (statuses, null);
    }
}
