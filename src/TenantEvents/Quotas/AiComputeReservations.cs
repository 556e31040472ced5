using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Quotas;

/// <summary>
/// AI compute reservations: units held against the monthly quota and charged at an organisation until committed,
/// released or expired (expiry is applied before every decision and read, so it needs no timer to be exact).
/// </summary>
public sealed class AiComputeReservations(Clock clock, QuotaUsageStore store, QuotaAlerts alerts)
{

    /// <summary>A reservation of AI compute units.</summary>
    public sealed record Reservation(Guid Id, Guid? OrganisationId, long Units, string State, DateTimeOffset PeriodStart, DateTimeOffset CreatedAt,
        DateTimeOffset ExpiresAt, DateTimeOffset? SettledAt, long? CommittedUnits, string? Purpose, string Actor);

    /// <summary>
    /// Reserves units (held against the monthly quota, charged at the organisation) until committed, released or expired;
    /// the refusal when a hard quota, an organisation's cap or another's guarantee leaves too little.
    /// </summary>
    public async Task<(Reservation? Reservation, QuotaRefusal? Refusal)> ReserveAsync(TenantQuotas policy, Guid? organisation, long units,
        TimeSpan lifetime, string? purpose, Actor actor, CancellationToken cancellation)
    {
        const string kind = QuotaKinds.AiCompute;
        var now = clock.UtcNow;
        var (start, end) = QuotaKinds.PeriodAt(kind, now);
        var org = organisation ?? Guid.Empty;
        // A hard budget at 100 % refuses the subtree's compute until the month ends or the budget is raised (Billing/BudgetChecker.cs).
        if (policy.BudgetRefused is { } refused && refused.Contains(org))
            return (null, new QuotaRefusal("budget", 0, 0, Billing.BillingMonths.End(now.UtcDateTime.Year, now.UtcDateTime.Month),
                $"The budget of {(organisation is null ? "the tenant" : $"organisation {org}")} (or an organisation above it) is spent for this month, and it is " +
                "a hard budget: AI compute is refused until the month ends or the budget is raised.", "budget-exhausted"));
        var result = await store.InTenantAsync<(Reservation?, QuotaRefusal?, long)>(policy.TenantId, kind, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, now, cancellation);
            var charges = await store.ChargesAsync(connection, transaction, kind, start, cancellation);
            var tree = policy.Trees[kind];
            var free = tree.Free(org, tree.Loads(charges));
            var total = charges.Values.Sum();
            if (policy.Hard(kind) && free < units)
                return ((Reservation?)null, new QuotaRefusal(kind, total, policy.Limit(kind), end,
                    $"{units:N0} AI compute units cannot be reserved: {free:N0} are free{(organisation is null ? "" : $" to organisation {org}")} " +
                    $"of the tenant's {policy.Limit(kind):N0} this month ({total:N0} used or reserved); the quota resets at {end:O}."), total);
            var reservation = new Reservation(Guid.CreateVersion7(), organisation, units, "held", start, now, now + lifetime, null, null, purpose, actor.ToString());
            await using (var insert = new NpgsqlCommand($"""
                insert into {store.Schema}.ai_reservations (tenant_id, id, org_id, units, state, period_start, created_at, expires_at, purpose, actor)
                values ($1, $2, $3, $4, 'held', $5, $6, $7, $8, $9)
                """, connection, transaction))
            {
                Infrastructure.Databases.Sql.Bind(insert, policy.TenantId.ToString(), reservation.Id, org, units, start, now, reservation.ExpiresAt, (object?)purpose ?? DBNull.Value, reservation.Actor);
                await insert.ExecuteNonQueryAsync(cancellation);
            }
            await store.AddAsync(connection, transaction, kind, start, org, used: 0, held: units, cancellation);
            return (reservation, null, total + units);
        }, cancellation);
        if (result.Item1 is not null) await alerts.RaiseAlertsAsync(policy, kind, start, end, result.Item3, cancellation);
        return (result.Item1, result.Item2);
    }

    /// <summary>What became of a commit or release: the reservation after, or why not (404 unknown, 409 no longer held, 400 too many units).</summary>
    public sealed record Settlement(Reservation? Reservation, Problem? Problem);

    /// <summary>Commits units used (at most those reserved; the rest is released) or, with null, releases the reservation.</summary>
    public async Task<Settlement> SettleAsync(TenantQuotas policy, Guid id, long? committedUnits, CancellationToken cancellation)
    {
        const string kind = QuotaKinds.AiCompute;
        var now = clock.UtcNow;
        return await store.InTenantAsync(policy.TenantId, kind, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, now, cancellation);
            var reservation = await FindAsync(connection, transaction, id, cancellation);
            if (reservation is null) return new Settlement(null, Problem.NotFound("reservation"));
            if (reservation.State != "held")
                return new Settlement(null, new Problem("reservation-settled", 409, "The reservation is no longer held",
                        $"It was {reservation.State} at {reservation.SettledAt:O}; reserve again.").With("currentState", reservation.State));
            if (committedUnits is { } c && c > reservation.Units)
                return new Settlement(null, Problem.Validation("units", "exceeds-reservation",
                    $"may be at most the {reservation.Units:N0} units reserved."));
            var used = committedUnits ?? 0;
            var state = committedUnits is null ? "released" : "committed";
            await using (var update = new NpgsqlCommand($"""
                update {store.Schema}.ai_reservations set state = $2, settled_at = $3, committed_units = $4 where id = $1
                """, connection, transaction))
            {
                Infrastructure.Databases.Sql.Bind(update, id, state, now, committedUnits is null ? DBNull.Value : used);
                await update.ExecuteNonQueryAsync(cancellation);
            }
            await store.AddAsync(connection, transaction, kind, reservation.PeriodStart, reservation.OrganisationId ?? Guid.Empty, used, -reservation.Units,
                cancellation);
            if (used > 0) await store.AddDailyAsync(connection, transaction, QuotaKinds.MetricOf(kind), now, reservation.OrganisationId ?? Guid.Empty, used, cancellation);
            return new Settlement(reservation with { State = state, SettledAt = now, CommittedUnits = committedUnits }, null);
        }, cancellation);
    }

    public async Task<Reservation?> ReservationAsync(Guid tenant, Guid id, CancellationToken cancellation) =>
        await store.InTenantAsync(tenant, QuotaKinds.AiCompute, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, clock.UtcNow, cancellation);
            return await FindAsync(connection, transaction, id, cancellation);
        }, cancellation);

    private async Task<Reservation?> FindAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, CancellationToken cancellation)
    {
        await using var find = new NpgsqlCommand($"""
            select id, org_id, units, state, period_start, created_at, expires_at, settled_at, committed_units, purpose, actor
            from {store.Schema}.ai_reservations where id = $1 for update
            """, connection, transaction);
        Infrastructure.Databases.Sql.Bind(find, id);
        await using var reader = await find.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var org = reader.GetGuid(1);
        return new Reservation(reader.GetGuid(0), org == Guid.Empty ? null : org, reader.GetInt64(2), reader.GetString(3),
            reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6),
            reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7), reader.IsDBNull(8) ? null : reader.GetInt64(8),
            reader.IsDBNull(9) ? null : reader.GetString(9), reader.GetString(10));
    }

    /// <summary>Reservations past their expiry give their units back (run before every decision and read, so expiry needs no timer to be exact).</summary>
    public async Task ExpireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now, CancellationToken cancellation)
    {
        await using var expire = new NpgsqlCommand($"""
            with expired as (
              update {store.Schema}.ai_reservations set state = 'expired', settled_at = expires_at
              where state = 'held' and expires_at <= $1
              returning period_start, org_id, units),
            totals as (select period_start, org_id, sum(units) as units from expired group by period_start, org_id)
            update {store.Schema}.quota_usage u set held = greatest(0, u.held - t.units), updated_at = $1
            from totals t where u.kind = '{QuotaKinds.AiCompute}' and u.period_start = t.period_start and u.org_id = t.org_id
            """, connection, transaction);
        Infrastructure.Databases.Sql.Bind(expire, now);
        await expire.ExecuteNonQueryAsync(cancellation);
    }
}
