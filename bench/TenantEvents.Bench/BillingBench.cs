using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// Closing a month at scale (issue 22): a tenant of 10,000 organisations (under its root, 1,000 per batch call) with 30
/// days of API calls and AI compute each in the usage history (600,000 rows, seeded by SQL as the metering writes them),
/// billed by its template's rate card; the month closed through the API (the tenant's invoice and one per organisation:
/// 10,001 invoice streams and sealed snapshots, in one transaction), against reading the same usage rows with the same
/// query as the service's role, in the same run. A fresh tenant per round (a month closes once). Prints each round and
/// the medians with the ratio close / read.
/// </summary>
static class BillingBench
{
    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        var count = args.SkipWhile(a => a != "--billing-orgs").Skip(1).Select(int.Parse).FirstOrDefault(10_000);
        await using var service = await Service.StartFresh(options, connectionString, owner, platform);
        HttpClient Client(string role, Guid? tenant = null) => service.Client(role, tenant);
        // The month just ended (UTC), so that it may be closed now.
        var now = DateTime.UtcNow;
        var month = new DateOnly(now.Year, now.Month, 1).AddMonths(-1);
        var monthName = month.ToString("yyyy-MM");
        var rows = new List<(double Read, double Close, long Usage, int Invoices)>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var admin = Client(Roles.PlatformAdmin);
            var tenant = Guid.Parse(await Provisioning.ProvisionOneId(admin, Client(Roles.PlatformApprover), $"billing-bench-{round}"));
            var tenantAdmin = Client(Roles.TenantAdmin, tenant);
            var root = (await tenantAdmin.GetFromJsonAsync<JsonElement>($"/api/tenants/{tenant}/organisations?limit=200")).GetProperty("items").EnumerateArray()
                .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == JsonValueKind.Null).GetProperty("id").GetGuid();
            var orgs = Enumerable.Range(0, count).Select(_ => Guid.CreateVersion7()).ToArray();
            foreach (var chunk in orgs.Select((id, i) => (id, i)).Chunk(1000))
                await Expect(await tenantAdmin.PostAsJsonAsync($"/api/tenants/{tenant}/organisations/batch", new
                {
                    organisations = chunk.Select(o => new { id = o.id, parentId = root, name = $"County {o.i}", kind = "unit" }),
                }));
            await Expect(await tenantAdmin.PutAsJsonAsync($"/api/tenants/{tenant}/billing/terms", new
            {
                buyer = new { name = $"Bench tenant {round}", country = "US" }, recovery = "full", split = "proportional",
            }));
            long usage;
            await using (var seed = new NpgsqlConnection(owner))
            {
                await seed.OpenAsync();
                await using var batch = new NpgsqlBatch(seed);
                batch.BatchCommands.Add(Command("select set_config('app.tenant_id', $1, false)", tenant.ToString()));
                // Billed from the month before the terms were set (a bench shortcut: the month just ended can be closed now).
                batch.BatchCommands.Add(Command("update tenantevents.billing_accounts set first_month = $2 where tenant_id = $1", tenant.ToString(), monthName));
                batch.BatchCommands.Add(Command("""
                    insert into tenantevents.usage_daily (tenant_id, metric, day, org_id, amount)
                    select $1, m, d::date, o, 1 + (abs(hashtextextended(o::text || m || d::text, 0)) % 2000)
                    from unnest($2::uuid[]) o, generate_series($3::date, ($3::date + interval '1 month' - interval '1 day')::date, interval '1 day') d,
                         unnest(array['apiCalls', 'aiCompute']) m
                    """, tenant.ToString(), orgs, month));
                await batch.ExecuteNonQueryAsync();
                await using var analyse = new NpgsqlCommand("analyze tenantevents.usage_daily", seed);
                await analyse.ExecuteNonQueryAsync();
            }

            // The baseline: the month's usage rows, read as the service reads them (its role, the tenant set, the same query).
            var clock = Stopwatch.StartNew();
            await using (var read = new NpgsqlConnection(connectionString))
            {
                await read.OpenAsync();
                await using var transaction = await read.BeginTransactionAsync();
                await using (var set = new NpgsqlCommand("select set_config('app.tenant_id', $1, true)", read, transaction))
                {
                    set.Parameters.AddWithValue(tenant.ToString());
                    await set.ExecuteNonQueryAsync();
                }
                await using var select = new NpgsqlCommand(
                    "select org_id, metric, day, amount from tenantevents.usage_daily where tenant_id = $1 and day between $2 and $3", read, transaction);
                select.Parameters.AddWithValue(tenant.ToString());
                select.Parameters.AddWithValue(month);
                select.Parameters.AddWithValue(month.AddMonths(1).AddDays(-1));
                usage = 0;
                await using var reader = await select.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    _ = (reader.GetGuid(0), reader.GetString(1), reader.GetFieldValue<DateOnly>(2), reader.GetInt64(3));
                    usage++;
                }
            }
            var readMs = clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            var closed = await admin.PostAsync($"/api/tenants/{tenant}/billing/months/{monthName}/close", null);
            var closeMs = clock.Elapsed.TotalMilliseconds;
            await Expect(closed);
            var invoices = (await closed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("invoices").GetInt32();
            rows.Add((readMs, closeMs, usage, invoices));
            Console.WriteLine($"round {round}: {count:N0} organisations, {usage:N0} usage rows: read {readMs:F0} ms; close {closeMs:F0} ms ({invoices:N0} invoices); " +
                              $"close / read {closeMs / readMs:F1}");
        }
        Console.WriteLine();
        Console.WriteLine($"== median of {rows.Count} rounds ({count:N0} organisations, {rows[0].Usage:N0} usage rows, {Environment.ProcessorCount} cores)");
        Console.WriteLine($"read the month's usage rows : {Stats.Median(rows.Select(r => r.Read)):F0} ms");
        Console.WriteLine($"close the month             : {Stats.Median(rows.Select(r => r.Close)):F0} ms ({rows[0].Invoices:N0} invoices drafted, each its own stream, sealed)");
        Console.WriteLine($"ratio close / read          : {Stats.Median(rows.Select(r => r.Close / r.Read)):F1}");
        return 0;
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        return command;
    }

    private static async Task Expect(HttpResponseMessage reply)
    {
        if (!reply.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)reply.StatusCode} {await reply.Content.ReadAsStringAsync()}");
    }
}
