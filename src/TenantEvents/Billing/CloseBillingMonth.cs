using Microsoft.AspNetCore.Authorization;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>What closing a month did: the month's figures and the invoices drafted (the tenant's first).</summary>
public sealed record ClosedMonth(string Month, MonthFigures Figures, IReadOnlyList<Guid> Invoices, int LateLines);

/// <summary>
/// Closing a month (UTC): the tenant's invoice and one per organisation charged or shown something, drafted from the
/// usage history (usage_daily) and the allocation history, never from per-request events; usage of earlier closed
/// months that came in after their close goes on these invoices as late usage. In one transaction under the tenant's
/// billing lock, after the month before it, and once.
/// </summary>
public sealed class MonthCloser(BillingStore store, OrganisationStore organisations, TenantEventsOptions options)
{
    private string Schema => store.Schema;

    public async Task<(ClosedMonth? Closed, Problem? Problem)> CloseAsync(Guid tenantId, string month, Actor by, CancellationToken cancellation)
    {
        if (BillingMonths.Parse(month) is not var (year, number))
            return (null, Problem.Validation("month", "invalid-month", "a UTC month as YYYY-MM (2026-11)."));
        var now = store.Now;
        if (BillingMonths.End(year, number) > now)
            return (null, new Problem("month-open", 409, "The month has not ended", $"{month} ends at {BillingMonths.End(year, number):O} (UTC)."));
        var (tenant, templateCards) = await store.TenantAsync(tenantId, cancellation);
        if (tenant is null) return (null, Problem.NotFound("tenant"));
        var (root, parents) = await organisations.ReadAsync(tenantId, g => (g.Root,
            g.Root is { } r ? (IReadOnlyDictionary<Guid, Guid?>)g.SelfAndDescendants(r).ToDictionary(n => n.Id, n => n.ParentId) : null), cancellation);
        if (root is not { } rootId || parents is null) return (null, Problem.NotFound("tenant"));

        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        await tx.LockAsync("billing", cancellation);
        var account = await store.LoadAccountAsync(tx.Session, tenantId, cancellation);
        if (account.Terms is not { } terms)
            return (null, new Problem("billing-not-set-up", 409, "The tenant is not billed", "Set its billing terms first (PUT /api/tenants/{id}/billing/terms)."));
        if (account.Closed.ContainsKey(month))
            return (null, new Problem("month-closed", 409, "The month is closed", $"{month} was closed at {account.Closed[month].At:O}.").With("month", month));
        var first = await store.FirstMonthAsync(tx, cancellation) ?? month;
        if (string.CompareOrdinal(month, first) < 0)
            return (null, new Problem("month-not-billed", 409, "The tenant was not billed then", $"Billing starts with {first}.").With("firstMonth", first));
        var previous = BillingMonths.Of(BillingMonths.Start(year, number).AddMonths(-1));
        if (string.CompareOrdinal(previous, first) >= 0 && !account.Closed.ContainsKey(previous))
            return (null, new Problem("previous-month-open", 409, "The month before is not closed", $"Close {previous} first.").With("month", previous));

        var cards = account.CardsWith(templateCards);
        var usage = await UsageAsync(tx, year, number, cards, parents, cancellation);
        if (!Currencies.IsKnown(cards.LastOrDefault()?.Currency ?? "EUR") || Pricing.CardsFor(year, number, cards).Select(c => c.Currency).Distinct().Count() > 1)
            return (null, new Problem("rate-cards-unusable", 409, "The rate cards cannot price this month", "The tenant's rate cards are in more than one currency."));
        var lateMonths = account.Closed.Keys.Where(m => string.CompareOrdinal(m, month) < 0).TakeLast(options.BillingLateMonths).ToList();
        var late = await LateAsync(tx, lateMonths, cancellation);
        var figures = Chargeback.Compute(year, number, cards, usage, late, rootId,
            new RecoveryTerms(terms.Recovery, terms.Subsidy, terms.Split, terms.CostCentres));

        // The drafts: the tenant's (seller: the platform), then each organisation's (seller: the tenant).
        var names = await organisations.NamesAsync(tenantId, figures.Organisations.Keys.ToList(), cancellation);
        var drafts = new List<InvoiceDrafted>();
        if (figures.Tenant.Lines.Count > 0)
            drafts.Add(Draft(null, month, options.BillingSeller, terms.Buyer, figures.Currency, figures.Tenant, by, now));
        foreach (var (org, orgFigures) in figures.Organisations.OrderBy(o => o.Key))
            drafts.Add(Draft(org, month, terms.Buyer, terms.Buyer with { Name = names.GetValueOrDefault(org) ?? org.ToString(), VatId = null, EndpointId = null },
                figures.Currency, orgFigures, by, now));
        await WriteDraftsAsync(tx, drafts, cancellation);
        await RecordBilledAsync(tx, month, usage, late, cancellation);
        var lateLines = figures.Tenant.Lines.Count(l => l.LateFor is not null);
        await store.AppendAccountAsync(tx, account,
            [new BillingMonthClosed(month, drafts.Count, figures.Currency, figures.Tenant.Total, lateLines, by, now)], cancellation);
        if (!await tx.TryCommitAsync(cancellation)) return (null, Problem.ConcurrentWrite());
        return (new ClosedMonth(month, figures, drafts.Select(d => d.InvoiceId).ToList(), lateLines), null);
    }

    private static InvoiceDrafted Draft(Guid? org, string month, Party seller, Party buyer, string currency, DraftFigures f, Actor by, DateTimeOffset now) =>
        new(Guid.CreateVersion7(), org, month, seller, buyer, currency, f.Lines, f.Subtotal, f.Tax, f.Total, f.Showback, by, now);

    /// <summary>
    /// The month's usage rows (API calls, AI compute, licences) and, for each allocatable kind a card charges, the units
    /// guaranteed to each organisation each day (whatever was in force at the day's end). Licences are a standing count:
    /// a day without a change holds the count of the last day that had one. An allocation nested in another is carved out
    /// of it: each organisation is charged its guarantee less what its nearest allocated descendants hold.
    /// </summary>
    public async Task<List<UsageRow>> UsageAsync(TenantTransaction tx, int year, int month, IReadOnlyList<RateCard> cards,
        IReadOnlyDictionary<Guid, Guid?> parents, CancellationToken cancellation)
    {
        var first = new DateOnly(year, month, 1);
        var last = first.AddMonths(1).AddDays(-1);
        var rows = new List<UsageRow>();
        await using (var command = tx.Command($"select org_id, metric, day, amount from {Schema}.usage_daily where tenant_id = $1 and day between $2 and $3",
                         tx.Tenant.ToString(), first, last))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add(new UsageRow(reader.GetGuid(0), reader.GetString(1), reader.GetFieldValue<DateOnly>(2), reader.GetInt64(3)));
        if (cards.SelectMany(c => c.Charges).Any(c => c.Metric == Pricing.Licences))
        {
            // A day with a change is billed at its peak; the days after hold the count its last change left (else its peak).
            await using var before = tx.Command($"""
                select coalesce((select amount from {Schema}.usage_daily where tenant_id = $1 and metric = $4 and org_id = $2 and day = d.day),
                                d.amount)
                from {Schema}.usage_daily d where d.tenant_id = $1 and d.metric = 'licences' and d.org_id = $2 and d.day < $3 order by d.day desc limit 1
                """, tx.Tenant.ToString(), Guid.Empty, first, Quotas.QuotaLedger.LicencesHeld);
            var held = await before.ExecuteScalarAsync(cancellation) is long l ? l : 0;
            var peaks = rows.Where(r => r.Metric == Pricing.Licences && r.Organisation == Guid.Empty).ToDictionary(r => r.Day, r => r.Amount);
            var closing = rows.Where(r => r.Metric == Quotas.QuotaLedger.LicencesHeld && r.Organisation == Guid.Empty).ToDictionary(r => r.Day, r => r.Amount);
            rows.RemoveAll(r => r.Metric is Pricing.Licences or Quotas.QuotaLedger.LicencesHeld);
            for (var day = first; day <= last; day = day.AddDays(1))
            {
                var billed = held;
                if (peaks.TryGetValue(day, out var peak))
                {
                    billed = Math.Max(peak, held);
                    held = closing.TryGetValue(day, out var count) ? count : peak;
                }
                if (billed > 0) rows.Add(new UsageRow(Guid.Empty, Pricing.Licences, day, billed));
            }
        }
        var kinds = cards.SelectMany(c => c.Charges).Select(c => c.Metric).Where(m => m.StartsWith(Pricing.AllocatedPrefix, StringComparison.Ordinal))
            .Select(m => m[Pricing.AllocatedPrefix.Length..]).Distinct().ToArray();
        if (kinds.Length == 0) return rows;
        var history = new List<(Guid Org, string Kind, DateTimeOffset Since, long Guaranteed)>();
        await using (var command = tx.Command($"""
                         select org_id, kind, since, guaranteed from {Schema}.allocation_history
                         where tenant_id = $1 and kind = any($2) and since < $3 order by org_id, kind, since
                         """, tx.Tenant.ToString(), kinds, BillingMonths.End(year, month)))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                history.Add((reader.GetGuid(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetInt64(3)));
        foreach (var kind in history.GroupBy(h => h.Kind))
        {
            // Each organisation's guarantee at each day's end.
            var daily = new Dictionary<(Guid Org, DateOnly Day), long>();
            foreach (var series in kind.GroupBy(h => h.Org))
            {
                var changes = series.ToList();
                var at = 0;
                long held = 0;
                for (var day = first; day <= last; day = day.AddDays(1))
                {
                    var dayEnd = new DateTimeOffset(day.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
                    while (at < changes.Count && changes[at].Since < dayEnd) held = changes[at++].Guaranteed;
                    if (held > 0) daily[(series.Key, day)] = held;
                }
            }
            // Carved out: what a nearest allocated descendant holds comes off its ancestor's charge, the same day.
            var net = new Dictionary<(Guid Org, DateOnly Day), long>(daily);
            foreach (var ((org, day), held) in daily)
                for (var up = parents.GetValueOrDefault(org); up is { } ancestor; up = parents.GetValueOrDefault(ancestor))
                    if (daily.ContainsKey((ancestor, day)))
                    {
                        net[(ancestor, day)] -= held;
                        break;
                    }
            rows.AddRange(net.Where(n => n.Value > 0).Select(n => new UsageRow(n.Key.Org, Pricing.AllocatedPrefix + kind.Key, n.Key.Day, n.Value)));
        }
        return rows;
    }

    /// <summary>Usage of closed months beyond what was billed for it (counted after their close).</summary>
    private async Task<List<LateUsage>> LateAsync(TenantTransaction tx, IReadOnlyList<string> months, CancellationToken cancellation)
    {
        var late = new List<LateUsage>();
        foreach (var m in months)
        {
            var (y, n) = BillingMonths.Parse(m)!.Value;
            var first = new DateOnly(y, n, 1);
            var found = new List<(Guid Org, string Metric, long Now, long Billed)>();
            await using (var command = tx.Command($"""
                             select coalesce(u.org_id, b.org_id), coalesce(u.metric, b.metric), coalesce(u.quantity, 0), coalesce(b.quantity, 0)
                             from (select org_id, metric, sum(amount)::bigint as quantity from {Schema}.usage_daily
                                   where tenant_id = $1 and day between $2 and $3 and metric = any($4) group by org_id, metric) u
                             full join (select org_id, metric, quantity from {Schema}.billed_usage where tenant_id = $1 and month = $5) b
                               on b.org_id = u.org_id and b.metric = u.metric
                             """, tx.Tenant.ToString(), first, first.AddMonths(1).AddDays(-1), Pricing.UsageMetrics.ToArray(), m))
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation))
                    found.Add((reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
            var billedByMetric = found.GroupBy(f => f.Metric).ToDictionary(g => g.Key, g => g.Sum(f => f.Billed));
            late.AddRange(found.Where(f => f.Now > f.Billed).Select(f => new LateUsage(m, f.Org, f.Metric, f.Now - f.Billed, billedByMetric[f.Metric])));
        }
        return late;
    }

    /// <summary>What was billed: the month's usage per organisation and metric, and the late usage added to its own month.</summary>
    private async Task RecordBilledAsync(TenantTransaction tx, string month, IReadOnlyList<UsageRow> usage, IReadOnlyList<LateUsage> late,
        CancellationToken cancellation)
    {
        var rows = usage.Where(u => Pricing.UsageMetrics.Contains(u.Metric)).GroupBy(u => (u.Organisation, u.Metric))
            .Select(g => (Month: month, g.Key.Organisation, g.Key.Metric, Quantity: g.Sum(u => u.Amount)))
            .Concat(late.Select(l => (l.Month, l.Organisation, l.Metric, l.Quantity))).ToList();
        if (rows.Count == 0) return;
        await tx.ExecuteAsync($"""
            insert into {Schema}.billed_usage as b (tenant_id, month, org_id, metric, quantity)
            select $1, m, o, k, q from unnest($2::text[], $3::uuid[], $4::text[], $5::bigint[]) as r(m, o, k, q)
            on conflict (tenant_id, month, org_id, metric) do update set quantity = b.quantity + excluded.quantity
            """, cancellation, tx.Tenant.ToString(), rows.Select(r => r.Month).ToArray(), rows.Select(r => r.Organisation).ToArray(),
            rows.Select(r => r.Metric).ToArray(), rows.Select(r => r.Quantity).ToArray());
    }

    /// <summary>The drafts' streams (one event each, sealed) and their snapshots (copied in, in the same transaction).</summary>
    private async Task WriteDraftsAsync(TenantTransaction tx, IReadOnlyList<InvoiceDrafted> drafts, CancellationToken cancellation)
    {
        var rows = new List<object?[]>(drafts.Count);
        foreach (var draft in drafts)
        {
            await tx.AppendAsync(draft.InvoiceId, [draft], cancellation, start: true);
            var document = Invoice.Apply(null, draft);
            document.Version = 1;
            rows.Add(await store.RowAsync(tx.Tenant, document, cancellation));
        }
        // One statement for all of them (row-level security allows no COPY): a column of values per array.
        await tx.ExecuteAsync($"""
            insert into {Schema}.billing_documents (tenant_id, id, kind, org_id, month, state, number, currency, total, version, key_version, nonce,
              ciphertext, created_at, updated_at)
            select $1, id, kind, org_id, month, state, null, currency, total, 1, key_version, nonce, ciphertext, at, at
            from unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::integer[], $10::bytea[], $11::bytea[],
              $12::timestamptz[]) as r(id, kind, org_id, month, state, currency, total, key_version, nonce, ciphertext, at)
            """, cancellation, tx.Tenant.ToString(),
            rows.Select(r => (Guid)r[1]!).ToArray(), rows.Select(r => (string)r[2]!).ToArray(), rows.Select(r => r[3] is Guid g ? (Guid?)g : null).ToArray(),
            rows.Select(r => (string)r[4]!).ToArray(), rows.Select(r => (string)r[5]!).ToArray(), rows.Select(r => (string)r[7]!).ToArray(),
            rows.Select(r => (decimal)r[8]!).ToArray(), rows.Select(r => (int)r[10]!).ToArray(), rows.Select(r => (byte[])r[11]!).ToArray(),
            rows.Select(r => (byte[])r[12]!).ToArray(), rows.Select(r => (DateTimeOffset)r[13]!).ToArray());
    }
}

public sealed record MonthClosedView(string Month, string Currency, int Invoices, decimal Subtotal, decimal Tax, decimal Total, int LateLines);

public static class CloseBillingMonthEndpoint
{
    /// <summary>
    /// Closes a month of the tenant now (platform administrators; the billing job closes each month on its own once
    /// TenantEvents:BillingCloseGrace has passed): drafts the tenant's invoice and its organisations', 201 with the totals.
    /// 409 when the month has not ended, is closed already, or the one before is still open.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/months/{month}/close", OperationId = "CloseBillingMonth")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Post(Guid tenantId, string month, HttpContext http, MonthCloser closer, CancellationToken cancellation)
    {
        var (closed, problem) = await closer.CloseAsync(tenantId, month, http.Caller().Actor, cancellation);
        if (problem is not null) return problem.ToResult();
        http.Response.Headers.Location = $"/api/tenants/{tenantId}/billing/months/{month}";
        return Results.Json(new MonthClosedView(closed!.Month, closed.Figures.Currency, closed.Invoices.Count, closed.Figures.Tenant.Subtotal,
            closed.Figures.Tenant.Tax, closed.Figures.Tenant.Total, closed.LateLines), Json.Options, statusCode: 201);
    }
}
