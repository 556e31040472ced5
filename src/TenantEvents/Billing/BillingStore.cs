using System.Text.Json;
using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;
using TenantEvents.Tenants;

namespace TenantEvents.Billing;

/// <summary>
/// The edge of billing: the tenant's account stream (read and appended in the caller's transaction), invoices and credit
/// notes (their streams and sealed snapshots), the number series, and the tenant as billing needs it.
/// </summary>
public sealed class BillingStore(TenantStreams streams, Tenants.Templates.TemplateCatalog templates)
{
    public const string DocumentRecordType = "billing_document";

    public TenantStreams Streams => streams;

    public string Schema => streams.Options.DatabaseSchema;

    public DateTimeOffset Now => streams.Now;

    /// <summary>The tenant (null: unknown or shredded) and the rate cards its template brings.</summary>
    public async Task<(Tenant? Tenant, IReadOnlyList<RateCard> TemplateCards)> TenantAsync(Guid tenantId, CancellationToken cancellation) =>
        await streams.CurrentAsync(tenantId, cancellation) is { } tenant ? (tenant, templates.Find(tenant.Template)?.RateCards ?? []) : (null, []);

    public async Task<BillingAccount> LoadAccountAsync(IQuerySession session, Guid tenant, CancellationToken cancellation)
    {
        var stored = await session.Events.FetchStreamAsync(BillingEventTypes.AccountStream(tenant), token: cancellation);
        var events = new List<object>(stored.Count);
        foreach (var e in stored) events.Add(await streams.OpenAsync(e, cancellation));
        return BillingAccount.Fold(events);
    }

    public async Task<BillingAccount> LoadAccountAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenant.ToString());
        return await LoadAccountAsync(session, tenant, cancellation);
    }

    /// <summary>Appends to the account at the version it was read at (a concurrent writer makes the commit fail); the account after.</summary>
    public async Task<BillingAccount> AppendAccountAsync(TenantTransaction tx, BillingAccount account, IReadOnlyList<object> events,
        CancellationToken cancellation)
    {
        if (events.Count == 0) return account;
        await tx.AppendAsync(BillingEventTypes.AccountStream(tx.Tenant), events, cancellation, versionAfter: account.Version + events.Count,
            start: account.Version == 0);
        foreach (var e in events)
        {
            Fold<BillingAccount>.Apply(account, e);
            account.Version++;
            switch (e)
            {
                case BillingTermsSet t:
                    await tx.ExecuteAsync($"""
                        insert into {Schema}.billing_accounts (tenant_id, first_month, updated_at) values ($1, $2, $3)
                        on conflict (tenant_id) do update set updated_at = excluded.updated_at
                        """, cancellation, tx.Tenant.ToString(), BillingMonths.Of(t.At), t.At);
                    break;
                case BillingMonthClosed c:
                    await tx.ExecuteAsync($"update {Schema}.billing_accounts set last_closed = $2, updated_at = $3 where tenant_id = $1", cancellation,
                        tx.Tenant.ToString(), c.Month, c.At);
                    break;
                case BudgetThresholdCrossed { Refusing: true } x:
                    await tx.ExecuteAsync($"insert into {Schema}.budget_refusals (tenant_id, org_id, month) values ($1, $2, $3) on conflict do nothing",
                        cancellation, tx.Tenant.ToString(), x.OrganisationId, x.Month);
                    break;
                case BudgetSet x:
                    await tx.ExecuteAsync($"delete from {Schema}.budget_refusals where tenant_id = $1 and org_id = $2", cancellation, tx.Tenant.ToString(), x.OrganisationId);
                    break;
                case BudgetRemoved x:
                    await tx.ExecuteAsync($"delete from {Schema}.budget_refusals where tenant_id = $1 and org_id = $2", cancellation, tx.Tenant.ToString(), x.OrganisationId);
                    break;
            }
        }
        return account;
    }

    /// <summary>The first month billed: the month the terms were first set (null: not billed).</summary>
    public async Task<string?> FirstMonthAsync(TenantTransaction tx, CancellationToken cancellation)
    {
        await using var command = tx.Command($"select first_month from {Schema}.billing_accounts where tenant_id = $1", tx.Tenant.ToString());
        return await command.ExecuteScalarAsync(cancellation) as string;
    }

    // ---- invoices and credit notes -----------------------------------------------------------------------------------

    /// <summary>A document of the tenant, optionally locked for the rest of the transaction.</summary>
    public async Task<Invoice?> LoadDocumentAsync(TenantTransaction tx, Guid id, CancellationToken cancellation, bool forUpdate = false)
    {
        // The snapshot is the stream's as of its version: one put back from before (its ciphertext authenticates, being
        // once genuine) is caught by the stream, which the service role cannot rewind.
        await using var command = tx.Command($"""
            select d.version, d.key_version, d.nonce, d.ciphertext, s.version from {Schema}.billing_documents d
            left join {Schema}.mt_streams s on s.id = d.id and s.tenant_id = d.tenant_id
            where d.tenant_id = $1 and d.id = $2{(forUpdate ? " for update of d" : "")}
            """, tx.Tenant.ToString(), id);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var version = reader.GetInt64(0);
        var payload = new SealedPayload(reader.GetInt32(1), (byte[])reader[2], (byte[])reader[3]);
        var streamVersion = reader.IsDBNull(4) ? (long?)null : reader.GetInt64(4);
        await reader.DisposeAsync();
        if (streamVersion != version) throw new IntegrityViolationException(tx.Tenant, id, DocumentRecordType);
        var document = await OpenAsync(tx.Tenant, id, payload, cancellation);
        document.Version = version;
        return document;
    }

    /// <summary>Writes a document's events and its new snapshot; the document after.</summary>
    public async Task<Invoice> SaveDocumentAsync(TenantTransaction tx, Invoice? before, IReadOnlyList<object> events, CancellationToken cancellation)
    {
        var document = before;
        foreach (var e in events) document = Invoice.Apply(document, e);
        document!.Version = (before?.Version ?? 0) + events.Count;
        await tx.AppendAsync(document.Id, events, cancellation, document.Version, start: before is null);
        var row = await RowAsync(tx.Tenant, document, cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.billing_documents (tenant_id, id, kind, org_id, month, state, number, currency, total, version, key_version, nonce,
              ciphertext, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            on conflict (tenant_id, id) do update set state = excluded.state, number = excluded.number, total = excluded.total,
              version = excluded.version, key_version = excluded.key_version, nonce = excluded.nonce, ciphertext = excluded.ciphertext,
              updated_at = excluded.updated_at
            """, cancellation, row);
        return document;
    }

    /// <summary>A document's row: the columns lists need, and its snapshot sealed under the tenant's current key.</summary>
    public async Task<object?[]> RowAsync(Guid tenant, Invoice document, CancellationToken cancellation)
    {
        var sealedSnapshot = await streams.SealBytesAsync(tenant, JsonSerializer.SerializeToUtf8Bytes(document, SealedJson.Options), document.Id,
            DocumentRecordType, cancellation);
        return
        [
            tenant.ToString(), document.Id, document.Kind, (object?)document.OrganisationId ?? DBNull.Value, document.Month, document.State,
            (object?)document.Number ?? DBNull.Value, document.Currency, document.Total, document.Version, sealedSnapshot.KeyVersion, sealedSnapshot.Nonce,
            sealedSnapshot.Ciphertext, document.CreatedAt, document.UpdatedAt,
        ];
    }

    public async Task<Invoice> OpenAsync(Guid tenant, Guid id, SealedPayload payload, CancellationToken cancellation) =>
        JsonSerializer.Deserialize<Invoice>(await streams.OpenBytesAsync(tenant, payload, id, DocumentRecordType, cancellation), SealedJson.Options)!;

    /// <summary>
    /// The next number of a series, taken in the caller's transaction: the row is locked until it commits, so concurrent
    /// finalisations take their numbers one after the other, and a transaction that fails gives its number back.
    /// </summary>
    public async Task<long> NextNumberAsync(TenantTransaction tx, string series, CancellationToken cancellation)
    {
        await using var command = tx.Command($"""
            insert into {Schema}.billing_series as s (tenant_id, series, last) values ($1, $2, 1)
            on conflict (tenant_id, series) do update set last = s.last + 1
            returning last
            """, tx.Tenant.ToString(), series);
        return (long)(await command.ExecuteScalarAsync(cancellation))!;
    }

    /// <summary>A block of numbers of a series (the last of them), in the caller's transaction, as <see cref="NextNumberAsync"/>.</summary>
    public async Task<long> TakeNumbersAsync(TenantTransaction tx, string series, int count, CancellationToken cancellation)
    {
        if (count == 0) return 0;
        await using var command = tx.Command($"""
            insert into {Schema}.billing_series as s (tenant_id, series, last) values ($1, $2, $3)
            on conflict (tenant_id, series) do update set last = s.last + $3
            returning last
            """, tx.Tenant.ToString(), series, (long)count);
        return (long)(await command.ExecuteScalarAsync(cancellation))!;
    }

    /// <summary>A month's draft invoices of organisations, locked for the transaction, in the order they were drafted.</summary>
    public async Task<IReadOnlyList<Invoice>> DraftsAsync(TenantTransaction tx, string month, int limit, CancellationToken cancellation)
    {
        var rows = new List<(Guid Id, long Version, SealedPayload Payload)>();
        await using (var command = tx.Command($"""
                         select id, version, key_version, nonce, ciphertext from {Schema}.billing_documents
                         where tenant_id = $1 and month = $2 and kind = 'invoice' and state = 'draft' and org_id is not null
                         order by id limit $3 for update
                         """, tx.Tenant.ToString(), month, limit))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add((reader.GetGuid(0), reader.GetInt64(1), new SealedPayload(reader.GetInt32(2), (byte[])reader[3], (byte[])reader[4])));
        var drafts = new List<Invoice>(rows.Count);
        foreach (var (id, version, payload) in rows)
        {
            var draft = await OpenAsync(tx.Tenant, id, payload, cancellation);
            draft.Version = version;
            drafts.Add(draft);
        }
        return drafts;
    }

    /// <summary>A filter on the tenant's documents (each part optional).</summary>
    public sealed record DocumentFilter(string? Month = null, string? Kind = null, string? State = null, Guid? Organisation = null);

    /// <summary>
    /// A page of the tenant's documents in id order (creation order) after <paramref name="after"/>: only those whose
    /// organisation <paramref name="visible"/> admits are opened (the rest are never unsealed); the next page's cursor when there is more.
    /// </summary>
    /// <param name="reach">What the reader may read (<see cref="BillingHttp.Reach"/>).</param>
    public async Task<(IReadOnlyList<Invoice> Items, Guid? Next)> PageAsync(Guid tenant, DocumentFilter filter, Guid? after, int limit,
        BillingReach reach, CancellationToken cancellation)
    {
        // Visibility is decided twice: in the query (only readable rows are read at all) and on each opened document (the
        // sealed organisation, which the plain column cannot be rewritten to contradict).
        var readable = reach.All ? null : reach.Organisations.ToArray();
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        var items = new List<Invoice>();
        var batch = Math.Max(limit, 200);
        while (true)
        {
            await using var command = Infrastructure.Databases.Sql.Command(scope.Connection, scope.Transaction, $"""
                select id, org_id, version, key_version, nonce, ciphertext from {Schema}.billing_documents
                where tenant_id = $1 and ($2::text is null or month = $2) and ($3::text is null or kind = $3) and ($4::text is null or state = $4)
                  and ($5::uuid is null or org_id = $5) and ($6::uuid is null or id > $6)
                  and ($8::uuid[] is null or org_id = any($8) or (org_id is null and $9))
                order by id limit $7
                """, tenant.ToString(), (object?)filter.Month ?? DBNull.Value, (object?)filter.Kind ?? DBNull.Value, (object?)filter.State ?? DBNull.Value,
                (object?)filter.Organisation ?? DBNull.Value, (object?)after ?? DBNull.Value, batch, (object?)readable ?? DBNull.Value, reach.TenantWide);
            var rows = new List<(Guid Id, Guid? Org, long Version, SealedPayload Payload)>();
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation))
                    rows.Add((reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetGuid(1), reader.GetInt64(2),
                        new SealedPayload(reader.GetInt32(3), (byte[])reader[4], (byte[])reader[5])));
            foreach (var row in rows)
            {
                after = row.Id;
                if (!reach.Reads(row.Org)) continue;
                var document = await OpenAsync(tenant, row.Id, row.Payload, cancellation);
                if (!reach.Reads(document.OrganisationId)) continue;
                document.Version = row.Version;
                items.Add(document);
                if (items.Count == limit) return (items, row.Id);
            }
            if (rows.Count < batch) return (items, null);
        }
    }

    /// <summary>A month's invoices (not void) as totals per organisation (null: the tenant's own), from the plain columns: nothing is unsealed.</summary>
    public async Task<IReadOnlyList<(Guid Id, Guid? Organisation, decimal Total)>> TotalsAsync(Guid tenant, string month, CancellationToken cancellation)
    {
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var command = Infrastructure.Databases.Sql.Command(scope.Connection, scope.Transaction,
            $"select id, org_id, total from {Schema}.billing_documents where tenant_id = $1 and month = $2 and kind = 'invoice' and state <> 'void'",
            tenant.ToString(), month);
        var totals = new List<(Guid, Guid?, decimal)>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) totals.Add((reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetGuid(1), reader.GetDecimal(2)));
        return totals;
    }
}
