using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Billing;

/// <summary>
/// The one edge of every change to a tenant's billing account: standing, authorisation and decision on the tree as it
/// is, the account read and appended at its version under the tenant's billing lock, committed together.
/// </summary>
public static class AccountEdge
{
    public static async Task<(BillingAccount? Account, IResult? Refusal)> RunAsync(HttpContext http, Guid tenantId, BillingStore billing,
        OrganisationStore organisations, Func<Caller, Standing, AccessGraph, BillingAccount, (IReadOnlyList<object> Events, Problem? Refusal)> decide,
        CancellationToken cancellation)
    {
        var (standing, refusal) = await BillingHttp.Enter(http, billing.Streams, organisations, tenantId, cancellation);
        if (refusal is not null) return (null, refusal);
        var caller = http.Caller();
        await using var tx = await billing.Streams.BeginAsync(null, tenantId, cancellation);
        await tx.LockAsync("billing", cancellation);
        var account = await billing.LoadAccountAsync(tx.Session, tenantId, cancellation);
        var (events, problem) = await organisations.ReadAsync(tenantId, g => decide(caller, standing!, g, account), cancellation);
        if (problem is not null) return (null, problem.ToResult());
        if (events.Count == 0) return (account, null);
        account = await billing.AppendAccountAsync(tx, account, events, cancellation);
        if (!await tx.TryCommitAsync(cancellation)) return (null, Problem.ConcurrentWrite().ToResult());
        return (account, null);
    }
}
