using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Analytics;
using TenantEvents.Audit;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// The analytics projections (issue 10). Seeds 10,000,000 events across 1,000 tenants straight into mt_events (and their
/// streams into mt_streams) by COPY as the schema owner, shaped as the service stores them: each tenant's lifecycle on
/// its own stream, then organisations, users, case files and agreements in streams of ten events, timestamps rising with
/// the sequence over a year, a sealed-looking payload (the projector never opens payloads, so the bytes need not
/// decrypt). The audit and notification triggers are off while seeding (the ledger is not what is measured here), on
/// again after. The tenants' clear records (template, zone) are seeded too.
/// Then, per round: a full rebuild of the analytics projections (AnalyticsProjector.RebuildAsync, the service's code,
/// in this process) timed as events/s, against the raw sequential read of the same events in the same batches by the
/// same role (seq_id, tenant_id, type, stream_id, version, timestamp into memory, nothing else), and a full-row read
/// (payload included) for reference. Finally 9,000 more tenants' lifecycles are added (10,000 in all) and GET
/// /api/analytics/estate is timed over HTTP as a platform administrator: p50/p95, against the raw SQL read of the rows
/// it reads.
/// </summary>
static class AnalyticsBench
{
    private static readonly string[] Templates = ["law-enforcement", "government-services", "commercial-saas", "intelligence"];
    private static readonly string[] Zones = ["default", "us-east", "eu-central", "au-southeast"];

    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        int Arg(string name, int fallback) => int.Parse(args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback.ToString());
        var totalEvents = Arg("--events", 10_000_000);
        var tenantCount = Arg("--event-tenants", 1_000);
        var estateTenants = Arg("--estate-tenants", 10_000);
        var requests = Arg("--estate-requests", 300);
        // --reuse: keep the events a previous run seeded (same --events and --event-tenants), to time the rebuild again.
        var seeded = args.Contains("--reuse") ? await SeededAsync(owner) : 0;
        var reuse = seeded >= totalEvents;
        if (!reuse) await InProcessService.ResetAsync(owner);
        var url = "http://127.0.0.1:5097";
        // The projector runs only when the benchmark says (its rebuilds are what is timed).
        await using var app = await InProcessService.StartAsync(url, connectionString, platform, new Dictionary<string, string>
        {
            ["TenantEvents:AnalyticsProjection"] = "false", ["TenantEvents:EventDelivery"] = "false",
            ["TenantEvents:AnalyticsBatchSize"] = Arg("--batch", 50_000).ToString(),
        });
        var projector = app.Services.GetRequiredService<AnalyticsProjector>();

        var clock = Stopwatch.StartNew();
        var tenants = Enumerable.Range(0, estateTenants).Select(i => Guid.CreateVersion7()).ToArray();
        var seq = 0L;
        if (reuse)
        {
            seq = seeded;
            Console.WriteLine($"reusing {seq:N0} seeded events (the estate's tenants included)");
        }
        else
        {
            await SeedRecordsAsync(owner, tenants);
            seq = await SeedEventsAsync(owner, tenants.Take(tenantCount).ToArray(), totalEvents, seq);
            Console.WriteLine($"seeded {seq:N0} events across {tenantCount:N0} tenants in {clock.Elapsed.TotalSeconds:F0} s");
        }

        var rebuilds = new List<double>();
        var raws = new List<double>();
        var fulls = new List<double>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            // Alternate which goes first: the cache is warm for whichever runs second.
            foreach (var step in round % 2 == 1 ? new[] { "raw", "rebuild", "full" } : new[] { "rebuild", "raw", "full" })
            {
                clock.Restart();
                long n = step switch
                {
                    "rebuild" => await projector.RebuildAsync(CancellationToken.None),
                    "raw" => await RawReadAsync(platform, Arg("--batch", 50_000), full: false),
                    _ => await RawReadAsync(platform, Arg("--batch", 50_000), full: true),
                };
                var perSecond = n / clock.Elapsed.TotalSeconds;
                (step == "rebuild" ? rebuilds : step == "raw" ? raws : fulls).Add(perSecond);
                Console.WriteLine($"round {round} {step,-8}: {n:N0} events in {clock.Elapsed.TotalSeconds:F1} s = {perSecond:N0} events/s");
                if (n != seq) throw new InvalidOperationException($"{step} read {n} events, expected {seq}");
            }
            Console.WriteLine($"round {round} ratio rebuild/raw: {rebuilds[^1] / raws[^1]:F2}");
        }
        await CheckAsync(owner, reuse ? estateTenants : tenantCount, seq);

        // The estate: 9,000 more tenants' lifecycles, projected, then the overview over HTTP. (After --reuse: the
        // rebuilt projections already hold every tenant seeded then.)
        if (!reuse) seq = await SeedEventsAsync(owner, tenants.Skip(tenantCount).ToArray(), 0, seq);
        await projector.CatchUpAsync(CancellationToken.None);
        var key = DevTokenKeyFile.Load(Service.SharedDataFolder);
        using var admin = new HttpClient { BaseAddress = new Uri(url) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            DevTokens.Issue(key, "bench-admin", [Roles.PlatformAdmin], null, TimeSpan.FromHours(3), DateTime.UtcNow));
        var check = await admin.GetAsync("/api/analytics/estate");
        if (check.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"estate: {check.StatusCode} {await check.Content.ReadAsStringAsync()}");
        var body = System.Text.Json.JsonDocument.Parse(await check.Content.ReadAsStringAsync()).RootElement;
        Console.WriteLine($"estate: {body.GetProperty("tenants").GetInt32():N0} tenants, {body.GetProperty("byState").GetArrayLength()} states, " +
                          $"{body.GetProperty("byTemplate").GetArrayLength()} templates, {body.GetProperty("byZone").GetArrayLength()} zones");
        if (!reuse && body.GetProperty("tenants").GetInt32() != estateTenants) throw new InvalidOperationException("the estate does not count every tenant");
        var estate = new List<double>();
        var rawEstate = new List<double>();
        for (var i = 0; i < 20; i++) { await admin.GetStringAsync("/api/analytics/estate"); await RawEstateAsync(platform); }
        for (var i = 0; i < requests; i++)
        {
            clock.Restart();
            using (var response = await admin.GetAsync("/api/analytics/estate")) { response.EnsureSuccessStatusCode(); await response.Content.ReadAsByteArrayAsync(); }
            estate.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            await RawEstateAsync(platform);
            rawEstate.Add(clock.Elapsed.TotalMilliseconds);
        }
        double P(List<double> values, double p) { var s = values.Order().ToArray(); return s[(int)Math.Min(s.Length - 1, Math.Ceiling(p * s.Length) - 1)]; }

        Console.WriteLine();
        Console.WriteLine($"rebuild of the analytics projections : {Stats.Median(rebuilds):N0} events/s (median of {rebuilds.Count}; {seq:N0} events, {(reuse ? estateTenants : tenantCount):N0} tenants)");
        Console.WriteLine($"raw sequential read, same columns    : {Stats.Median(raws):N0} events/s");
        Console.WriteLine($"raw sequential read, whole rows      : {Stats.Median(fulls):N0} events/s (reference)");
        Console.WriteLine($"ratio rebuild / raw                  : {Stats.Median(rebuilds.Zip(raws, (r, w) => r / w)):F2}   (aim: 0.3 or above)");
        Console.WriteLine($"estate overview, {estateTenants:N0} tenants, HTTP : p50 {P(estate, 0.5):F1} ms, p95 {P(estate, 0.95):F1} ms, p99 {P(estate, 0.99):F1} ms ({requests} requests; aim: p95 under 100 ms)");
        Console.WriteLine($"raw SQL read of the same rows        : p50 {P(rawEstate, 0.5):F1} ms, p95 {P(rawEstate, 0.95):F1} ms; ratio p95 {P(estate, 0.95) / P(rawEstate, 0.95):F1}x");
        return 0;
    }

    /// <summary>Events seeded by an earlier run (0 if there is no schema yet).</summary>
    private static async Task<long> SeededAsync(string owner)
    {
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select case when to_regclass('tenantevents.mt_events') is null then 0 else (select count(*) from tenantevents.analytics_progress) end", connection);
        if ((long)(await command.ExecuteScalarAsync())! == 0) return 0;
        await using var count = new NpgsqlCommand("select count(*) from tenantevents.mt_events", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>The tenants' clear records, as the service keeps them (the projector takes template and zone from them).</summary>
    private static async Task SeedRecordsAsync(string owner, Guid[] tenants)
    {
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        for (var start = 0; start < tenants.Length; start += 500)
        {
            // The table forces row-level security, even on its owner: each row is written bound to its tenant.
            await using var batch = new NpgsqlBatch(connection);
            foreach (var (tenant, i) in tenants.Skip(start).Take(500).Select((t, i) => (t, start + i)))
            {
                var set = new NpgsqlBatchCommand("select set_config('app.tenant_id', $1, false)");
                set.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
                batch.BatchCommands.Add(set);
                var insert = new NpgsqlBatchCommand("insert into tenantevents.mt_doc_tenantrecord (tenant_id, id, data, mt_dotnet_type) values ($1, $2, $3::jsonb, 'TenantEvents.Tenants.TenantRecord')");
                insert.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
                insert.Parameters.Add(new NpgsqlParameter { Value = tenant });
                insert.Parameters.Add(new NpgsqlParameter
                {
                    Value = System.Text.Json.JsonSerializer.Serialize(new
                    {
                        Id = tenant, Slug = $"bench-{i:D5}", State = "Active", Template = Templates[i % Templates.Length], Country = "US", Zone = Zones[i % Zones.Length],
                        Version = 3, RequestedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
                    }),
                });
                batch.BatchCommands.Add(insert);
            }
            await batch.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// Each tenant: its lifecycle (requested, approved, provisioned; every 10th suspended, every 25th decommissioned), then
    /// streams of ten events of the other record kinds until its share of <paramref name="total"/>. Returns the last seq.
    /// </summary>
    private static async Task<long> SeedEventsAsync(string owner, Guid[] tenants, long total, long seq)
    {
        var byKind = AuditEventTypes.ByStoredName.Keys.GroupBy(AnalyticsFold.KindOf).ToDictionary(g => g.Key, g => g.ToArray());
        string[] kinds = ["organisation", "user", "case-file", "case-file", "case-file", "sharing-agreement"];
        var random = new Random(7);
        var payloads = Enumerable.Range(0, 1024).Select(_ =>
        {
            var nonce = new byte[12]; var cipher = new byte[96 + random.Next(128)];
            random.NextBytes(nonce); random.NextBytes(cipher);
            return $$"""{"KeyVersion":1,"Nonce":"{{Convert.ToBase64String(nonce)}}","Ciphertext":"{{Convert.ToBase64String(cipher)}}"}""";
        }).ToArray();
        var perTenant = tenants.Length == 0 ? 0 : total / tenants.Length;
        var start = DateTimeOffset.UtcNow.AddDays(-365);
        var span = TimeSpan.FromDays(365);
        var expected = Math.Max(1, total > 0 ? total : tenants.Length * 5L);
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(owner) { CommandTimeout = 0 }.ConnectionString);
        await connection.OpenAsync();
        await Exec(connection, "alter table tenantevents.mt_events disable trigger user");
        try
        {
            // Streams first (the events' foreign key), then the events, interleaved across tenants as time passes.
            var streams = new List<(string Tenant, Guid Id, string Type, long Version)>();
            var plan = new List<(string Tenant, Guid Stream, string Type, long Version)>[tenants.Length];
            for (var t = 0; t < tenants.Length; t++)
            {
                var tenant = tenants[t].ToString();
                var list = plan[t] = [];
                var lifecycle = new List<string> { "tenant_requested", "tenant_approved", "tenant_provisioned" };
                if (t % 10 == 3) lifecycle.Add("tenant_suspended");
                if (t % 25 == 7) lifecycle.AddRange(["tenant_decommission_requested", "tenant_decommission_scheduled", "tenant_decommissioned"]);
                for (var v = 0; v < lifecycle.Count; v++) list.Add((tenant, tenants[t], lifecycle[v], v + 1));
                streams.Add((tenant, tenants[t], "tenant", lifecycle.Count));
                while (list.Count < perTenant)
                {
                    var kind = kinds[random.Next(kinds.Length)];
                    var types = byKind[kind];
                    var id = Guid.CreateVersion7();
                    var length = (int)Math.Min(10, perTenant - list.Count);
                    for (var v = 1; v <= length; v++) list.Add((tenant, id, types.Length == 1 || v == 1 ? types[0] : types[1 + random.Next(types.Length - 1)], v));
                    streams.Add((tenant, id, kind, length));
                }
            }
            await using (var writer = await connection.BeginBinaryImportAsync(
                             "copy tenantevents.mt_streams (tenant_id, id, type, version, timestamp, created) from stdin (format binary)"))
            {
                writer.Timeout = TimeSpan.FromHours(1);
                foreach (var s in streams)
                {
                    await writer.StartRowAsync();
                    await writer.WriteAsync(s.Tenant, NpgsqlDbType.Varchar);
                    await writer.WriteAsync(s.Id, NpgsqlDbType.Uuid);
                    await writer.WriteAsync(s.Type, NpgsqlDbType.Varchar);
                    await writer.WriteAsync(s.Version, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(start, NpgsqlDbType.TimestampTz);
                    await writer.WriteAsync(start, NpgsqlDbType.TimestampTz);
                }
                await writer.CompleteAsync();
            }
            var written = 0L;
            await using (var writer = await connection.BeginBinaryImportAsync(
                             "copy tenantevents.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type) from stdin (format binary)"))
            {
                writer.Timeout = TimeSpan.FromHours(1);
                // Round-robin over the tenants, each in its own order: a stream's versions rise with the sequence.
                var cursors = new int[tenants.Length];
                var remaining = plan.Sum(p => p.Count);
                while (remaining > 0)
                    for (var t = 0; t < tenants.Length; t++)
                    {
                        if (cursors[t] >= plan[t].Count) continue;
                        var e = plan[t][cursors[t]++];
                        remaining--;
                        seq++;
                        await writer.StartRowAsync();
                        await writer.WriteAsync(seq, NpgsqlDbType.Bigint);
                        await writer.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid);
                        await writer.WriteAsync(e.Stream, NpgsqlDbType.Uuid);
                        await writer.WriteAsync(e.Version, NpgsqlDbType.Bigint);
                        await writer.WriteAsync(payloads[seq % payloads.Length], NpgsqlDbType.Jsonb);
                        await writer.WriteAsync(e.Type, NpgsqlDbType.Varchar);
                        await writer.WriteAsync(start + span * ((double)(written++) / expected), NpgsqlDbType.TimestampTz);
                        await writer.WriteAsync(e.Tenant, NpgsqlDbType.Varchar);
                        await writer.WriteAsync("TenantEvents.Keys.Sealed`1", NpgsqlDbType.Varchar);
                    }
                await writer.CompleteAsync();
            }
            await Exec(connection, $"select setval('tenantevents.mt_events_sequence', {seq})");
            await Exec(connection, "analyze tenantevents.mt_events");
        }
        finally
        {
            await Exec(connection, "alter table tenantevents.mt_events enable trigger user");
        }
        return seq;
    }

    /// <summary>The baseline: the same batches of the same rows read by the same role into memory, nothing more.</summary>
    private static async Task<long> RawReadAsync(string platform, int batch, bool full)
    {
        await using var source = NpgsqlDataSource.Create(platform);
        long position = 0, read = 0, head;
        await using (var max = source.CreateCommand("select coalesce(max(seq_id), 0) from tenantevents.mt_events"))
            head = (long)(await max.ExecuteScalarAsync())!;
        var facts = new List<EventFact>(batch);
        var bytes = 0L;
        while (position < head)
        {
            facts.Clear();
            await using var command = source.CreateCommand(
                $"select seq_id, tenant_id, type, stream_id, version, timestamp{(full ? ", data::text" : "")} from tenantevents.mt_events where seq_id > $1 and seq_id <= $1 + $2 order by seq_id");
            command.Parameters.Add(new NpgsqlParameter { Value = position });
            command.Parameters.Add(new NpgsqlParameter { Value = (long)batch });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                facts.Add(new EventFact(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetGuid(3), reader.GetInt64(4), reader.GetFieldValue<DateTimeOffset>(5)));
                if (full) bytes += reader.GetString(6).Length;
            }
            read += facts.Count;
            position += batch;
        }
        return read;
    }

    private static async Task RawEstateAsync(string platform)
    {
        await using var connection = new NpgsqlConnection(platform);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select state, template, zone, requested_at, provisioned_at, decommissioned_at, last_event_at from tenantevents.analytics_tenants where requested_at is not null", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var n = 0;
        while (await reader.ReadAsync()) n++;
    }

    /// <summary>The rebuilt projections agree with the seeded events (per tenant counts, states).</summary>
    private static async Task CheckAsync(string owner, int tenants, long events)
    {
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            select count(*), sum(events), count(*) filter (where state = 'decommissioned'), count(*) filter (where state = 'suspended'),
                   (select sum(events) from tenantevents.analytics_event_days), (select sum(events) from tenantevents.analytics_record_kinds)
            from tenantevents.analytics_tenants
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (count, sum, decommissioned, suspended, days, kinds) = (reader.GetInt64(0), reader.GetDecimal(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetDecimal(4), reader.GetDecimal(5));
        Console.WriteLine($"check: {count:N0} tenants, {sum:N0} events (days {days:N0}, kinds {kinds:N0}), {suspended} suspended, {decommissioned} decommissioned");
        if (count != tenants || sum != events || days != events || kinds != events) throw new InvalidOperationException("the projections do not add up to the events");
    }

    private static async Task Exec(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }
}
