using System.Collections.Concurrent;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Quotas;

/// <summary>
/// Each tenant's quotas as enforcement reads them (limits, modes, allocation trees), cached per instance for at most
/// <see cref="TenantEventsOptions.QuotaPolicyRefresh"/> and refreshed in the background.
/// </summary>
public sealed class QuotaPolicies(TenantStreams streams, OrganisationStore organisations, ILogger<QuotaPolicies> log)
{

    private sealed class PolicyEntry
    {
        public TenantQuotas? Value;
        public long LoadedAt;
        public readonly SemaphoreSlim Gate = new(1, 1);
    }

    private readonly ConcurrentDictionary<Guid, PolicyEntry> _policies = new();

    /// <summary>
    /// The tenant's quotas, at most <see cref="TenantEventsOptions.QuotaPolicyRefresh"/> old (so a changed limit or
    /// allocation is enforced by every instance within that time); null for a tenant that does not exist or was shredded.
    /// </summary>
    public async ValueTask<TenantQuotas?> PolicyAsync(Guid tenant, CancellationToken cancellation, bool fresh = false)
    {
        var entry = _policies.GetOrAdd(tenant, _ => new PolicyEntry());
        if (!fresh && Current(entry) is { } cached) return cached;
        // Stale while one caller reloads in the background: the request path never waits for a refresh.
        if (!fresh && entry.Value is { } stale)
        {
            if (entry.Gate.Wait(0))
                _ = Task.Run(async () =>
                {
                    try
                    {
                        entry.Value = await LoadPolicyAsync(tenant, stale, CancellationToken.None);
                        Volatile.Write(ref entry.LoadedAt, Environment.TickCount64);
                    }
                    catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
                    {
                        log.LogWarning(e, "Could not reload the quotas of tenant {Tenant}", tenant);
                    }
                    finally
                    {
                        entry.Gate.Release();
                    }
                });
            return stale;
        }
        await entry.Gate.WaitAsync(cancellation);
        try
        {
            if (!fresh && Current(entry) is { } loaded) return loaded;
            var value = await LoadPolicyAsync(tenant, entry.Value, cancellation);
            entry.Value = value;
            Volatile.Write(ref entry.LoadedAt, Environment.TickCount64);
            return value;
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    private TenantQuotas? Current(PolicyEntry entry) =>
        entry.Value is { } value && Environment.TickCount64 - Volatile.Read(ref entry.LoadedAt) < streams.Options.QuotaPolicyRefresh.TotalMilliseconds ? value : null;

    /// <summary>Forget what this instance knows of a tenant's quotas (its own changes take effect at once).</summary>
    public void Invalidate(Guid tenant) => _policies.TryRemove(tenant, out _);

    /// <summary>
    /// The tenant's limits (read again every time: a settings change must show) and its allocation trees, which are
    /// rebuilt only when the organisation graph or the limits moved on since <paramref name="previous"/>.
    /// </summary>
    private async Task<TenantQuotas?> LoadPolicyAsync(Guid tenant, TenantQuotas? previous, CancellationToken cancellation)
    {
        TenantRecord? record;
        await using (var session = streams.Store.QuerySession(tenant.ToString()))
            record = await session.LoadAsync<TenantRecord>(tenant, cancellation);
        if (record is null || record.Shredded) return null;
        Tenant state;
        try
        {
            state = await streams.ReadAsync(record, cancellation);
        }
        catch (KeyDestroyedException)
        {
            return null;
        }
        var quotas = state.Settings.Quotas;
        var sameLimits = previous is not null && QuotaKinds.All.All(k => QuotaKinds.LimitOf(previous.Quotas, k) == QuotaKinds.LimitOf(quotas, k));
        var (version, trees) = await organisations.ReadAsync(tenant, graph =>
            (graph.Version, sameLimits && previous!.AccessVersion == graph.Version
                ? previous.Trees
                : QuotaKinds.All.ToDictionary(k => k, k => AllocationTree.Build(graph, k, QuotaKinds.LimitOf(quotas, k)))), cancellation);
        var refused = await BudgetRefusedAsync(tenant, cancellation);
        var refusedTree = refused.Count == 0 ? (IReadOnlySet<Guid>)new HashSet<Guid>() : await organisations.ReadAsync(tenant, graph =>
        {
            var set = new HashSet<Guid>();
            foreach (var org in refused.Where(o => graph.Find(o) is not null)) set.UnionWith(graph.SelfAndDescendants(org).Select(n => n.Id));
            if (graph.Root is { } root && set.Contains(root)) set.Add(Guid.Empty);
            return set;
        }, cancellation);
        return new TenantQuotas(tenant, record.State == TenantState.Active, quotas, trees, version, refusedTree);
    }

    /// <summary>The organisations a hard budget refuses in the month under way (Billing/BudgetChecker.cs).</summary>
    private async Task<List<Guid>> BudgetRefusedAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var command = Infrastructure.Databases.Sql.Command(scope.Connection, scope.Transaction,
            $"select org_id from {streams.Options.DatabaseSchema}.budget_refusals where tenant_id = $1 and month = $2", tenant.ToString(),
            Billing.BillingMonths.Of(streams.Now));
        var refused = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) refused.Add(reader.GetGuid(0));
        return refused;
    }

    /// <summary>Forgets the quotas of tenants nobody asked for in a minute (the ledger's flush calls it).</summary>
    public void Sweep()
    {
        foreach (var (tenant, entry) in _policies)
            if (Environment.TickCount64 - Volatile.Read(ref entry.LoadedAt) > 60_000) _policies.TryRemove(tenant, out _);
    }
}
