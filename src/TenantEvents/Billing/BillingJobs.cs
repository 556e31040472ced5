using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Billing;

/// <summary>
/// The billing schedule, on every instance (each step is locked per tenant and done once): every
/// <see cref="TenantEventsOptions.BillingJobInterval"/> it closes each billed tenant's months that ended at least
/// <see cref="TenantEventsOptions.BillingCloseGrace"/> ago, in order, and checks the budgets of the month under way.
/// </summary>
public sealed class BillingJobs(TenantDatabases databases, BillingStore store, MonthCloser closer, BudgetChecker budgets, Clock clock, TenantEventsOptions options,
    ILogger<BillingJobs> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.BillingJobInterval, stoppingToken);
                await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "The billing job failed; it runs again at the next interval");
            }
        }
    }

    /// <summary>One round over every billed tenant; returns the months closed.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellation)
    {
        var closed = 0;
        foreach (var (tenant, first, last) in await AccountsAsync(cancellation))
        {
            try
            {
                // A decommissioned tenant is billed up to the month it was decommissioned in; a shredded one no more.
                if (await store.TenantAsync(tenant, cancellation) is not ({ } state, _)) continue;
                var lastBilled = state.DecommissionedAt is { } gone ? BillingMonths.Of(gone) : null;
                var month = last is null ? first : BillingMonths.Next(last);
                while (BillingMonths.Parse(month) is var (y, m) && BillingMonths.End(y, m) + options.BillingCloseGrace <= clock.UtcNow
                       && (lastBilled is null || string.CompareOrdinal(month, lastBilled) <= 0))
                {
                    var (done, problem) = await closer.CloseAsync(tenant, month, Actor.System, cancellation);
                    if (done is null)
                    {
                        if (problem?.Code != "month-closed") logger.LogWarning("Billing month {Month} of tenant {Tenant} not closed: {Problem}", month, tenant, problem?.Detail);
                        if (problem?.Code != "month-closed") break;
                    }
                    else closed++;
                    month = BillingMonths.Next(month);
                }
                await budgets.CheckAsync(tenant, raise: true, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Billing of tenant {Tenant} failed this round; the others go on", tenant);
            }
        }
        return closed;
    }

    private async Task<List<(Guid Tenant, string First, string? Last)>> AccountsAsync(CancellationToken cancellation)
    {
        var accounts = new List<(Guid, string, string?)>();
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            await using var command = platform.CreateCommand($"select tenant_id, first_month, last_closed from {options.DatabaseSchema}.billing_accounts");
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                if (Guid.TryParse(reader.GetString(0), out var tenant))
                    accounts.Add((tenant, reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
        }
        return accounts;
    }
}
