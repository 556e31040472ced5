using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Sharing;

/// <summary>
/// Listing the case files visible to one user (issue 8): 1,000,000 case files across 200 tenants; the user's tenant owns
/// 10,000 and 10,000 others are shared with it (8,000 through 16 agreements scoped by a tag, accepted over the API, and
/// 2,000 through a COI channel of 4 other tenants). Files are seeded straight into the read model as the service writes
/// it (sealed snapshot, blind-index tokens), with the owners' keys; agreements, the channel and membership go through
/// the API, and agreement shares are derived by the service. Then GET /api/tenants/{t}/case-files over HTTP as a member
/// with case.read at the root: the first page (50, newest first, own and shared mixed), a deep page, shared only, a
/// word search and a tag filter, each recorded in both audit trails as the service does. Baseline in the same run: one
/// page of the tenant's own rows read by SQL as the schema owner (index scan, no row-level security, no decryption).
/// </summary>
static class SharingBench
{
    private static readonly string[] Classifications = ["unclassified", "official", "sensitive", "secret"];

    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        int Arg(string name, int fallback) => int.Parse(args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback.ToString());
        var tenantCount = Arg("--share-tenants", 200);
        var totalFiles = Arg("--case-files", 1_000_000);
        const int own = 10_000, perAgreement = 500, agreements = 16, channelOwners = 4;
        await InProcessService.ResetAsync(owner);
        var url = "http://127.0.0.1:5098";
        await using var app = await InProcessService.StartAsync(url, connectionString, platform, new Dictionary<string, string>
        {
            // The benchmark's reader makes thousands of calls: lift the per-tenant fair share out of the way.
            ["TenantEvents:FairShareRequestsPerSecond"] = "100000", ["TenantEvents:FairShareBurst"] = "100000",
        });
        var key = DevTokenKeyFile.Load(Service.SharedDataFolder);
        HttpClient Client(string token) => new() { BaseAddress = new Uri(url), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
        string Dev(string role, Guid? tenant = null, string? subject = null) =>
            DevTokens.Issue(key, subject ?? "bench-" + role, [role], tenant, TimeSpan.FromHours(3), DateTime.UtcNow);
        var admin = Client(Dev(Roles.PlatformAdmin));
        var approver = Client(Dev(Roles.PlatformApprover));

        var clock = Stopwatch.StartNew();
        var ids = new Guid[tenantCount];
        await Parallel.ForAsync(0, tenantCount, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            ids[i] = Guid.Parse(await Provisioning.ProvisionOneId(admin, approver, $"share-bench-{i:D3}")));
        var roots = new Guid[tenantCount];
        await Parallel.ForAsync(0, tenantCount, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var tenant = await admin.GetFromJsonAsync<JsonElement>($"/api/tenants/{ids[i]}");
            roots[i] = tenant.GetProperty("organisations").EnumerateArray()
                .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == JsonValueKind.Null).GetProperty("id").GetGuid();
        });
        Console.WriteLine($"provisioned {tenantCount} tenants in {clock.Elapsed.TotalSeconds:F1} s");
        var me = ids[0];
        var user = Client(Dev(Roles.TenantMember, me, "analyst-bench"));
        await Expect(Client(Dev(Roles.TenantAdmin, me)).PostAsJsonAsync($"/api/tenants/{me}/organisations/{roots[0]}/grants",
            new { principal = new { kind = "user", id = "analyst-bench" }, role = "caseworker" }), HttpStatusCode.Created);

        // The files: the reader's tenant 10,000; the others share the rest; the first 500 of tenants 1-16 carry the
        // agreements' tag, the first 500 of tenants 17-20 go into the channel.
        clock.Restart();
        var sharing = app.Services.GetRequiredService<SharingStore>();
        var perOther = (totalFiles - own) / (tenantCount - 1);
        var channelFiles = new List<(Guid Owner, Guid File, DateTimeOffset At, string Classification, string[] Tags)>();
        var now = DateTimeOffset.UtcNow;
        var seeded = 0L;
        await Parallel.ForAsync(0, tenantCount, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, cancellation) =>
        {
            var tenant = ids[i];
            var count = i == 0 ? own : perOther + (i <= (totalFiles - own) % (tenantCount - 1) ? 1 : 0);
            var tokenize = await sharing.TokenizerAsync(tenant, cancellation);
            var random = new Random(i);
            await using var connection = new NpgsqlConnection(owner);
            await connection.OpenAsync(cancellation);
            await using var writer = await connection.BeginBinaryImportAsync(
                "copy tenantevents.case_files (tenant_id, id, org_id, classification, tag_tokens, search_tokens, version, key_version, nonce, ciphertext, created_at, updated_at) from stdin (format binary)",
                cancellation);
            for (var n = 0; n < count; n++)
            {
                var joint = n < perAgreement && i is >= 1 and <= agreements;
                var tags = new List<string> { "unit-" + random.Next(20) };
                if (joint) tags.Add("joint-op");
                var words = Enumerable.Range(0, 8).Select(_ => "kw" + random.Next(1000)).ToList();
                var at = now - TimeSpan.FromSeconds(random.Next(365 * 86400));
                var file = new CaseFile
                {
                    Id = Guid.CreateVersion7(), TenantId = tenant, OrganisationId = roots[i], Title = $"Case {n} {words[0]} {words[1]}",
                    Classification = Classifications[random.Next(Classifications.Length)], Tags = tags.Order(StringComparer.Ordinal).ToList(),
                    Body = string.Join(' ', words), Version = 1, CreatedAt = at, UpdatedAt = at, CreatedBy = new Actor("seed", "system"), UpdatedBy = new Actor("seed", "system"),
                };
                if (n < perAgreement && i > agreements && i <= agreements + channelOwners) lock (channelFiles) channelFiles.Add((tenant, file.Id, at, file.Classification, file.Tags.Select(t => tokenize(SharingStore.TagTerm(t))).ToArray()));
                var snapshot = await sharing.SealAsync(tenant, file, file.Id, SharingStore.CaseFileRecordType, cancellation);
                var tagTokens = file.Tags.Select(t => tokenize(SharingStore.TagTerm(t))).ToArray();
                var searchTokens = SharingStore.Terms([file.Title, file.Body, .. file.Tags]).Select(tokenize).Concat(tagTokens).Distinct().ToArray();
                await writer.StartRowAsync(cancellation);
                await writer.WriteAsync(tenant.ToString(), NpgsqlDbType.Varchar, cancellation);
                await writer.WriteAsync(file.Id, NpgsqlDbType.Uuid, cancellation);
                await writer.WriteAsync(file.OrganisationId, NpgsqlDbType.Uuid, cancellation);
                await writer.WriteAsync(file.Classification, NpgsqlDbType.Text, cancellation);
                await writer.WriteAsync(tagTokens, NpgsqlDbType.Array | NpgsqlDbType.Text, cancellation);
                await writer.WriteAsync(searchTokens, NpgsqlDbType.Array | NpgsqlDbType.Text, cancellation);
                await writer.WriteAsync(1L, NpgsqlDbType.Bigint, cancellation);
                await writer.WriteAsync(snapshot.KeyVersion, NpgsqlDbType.Integer, cancellation);
                await writer.WriteAsync(snapshot.Nonce, NpgsqlDbType.Bytea, cancellation);
                await writer.WriteAsync(snapshot.Ciphertext, NpgsqlDbType.Bytea, cancellation);
                await writer.WriteAsync(at, NpgsqlDbType.TimestampTz, cancellation);
                await writer.WriteAsync(at, NpgsqlDbType.TimestampTz, cancellation);
            }
            await writer.CompleteAsync(cancellation);
            Interlocked.Add(ref seeded, count);
        });
        await using (var connection = new NpgsqlConnection(owner))
        {
            await connection.OpenAsync();
            await using var analyze = new NpgsqlCommand("analyze tenantevents.case_files", connection);
            await analyze.ExecuteNonQueryAsync();
        }
        Console.WriteLine($"seeded {seeded:N0} case files across {tenantCount} tenants in {clock.Elapsed.TotalSeconds:F1} s");

        // Agreements over the API: offered by each owner, accepted by the reader's tenant (the service derives the shares).
        clock.Restart();
        var myAdmin = Client(Dev(Roles.TenantAdmin, me));
        for (var i = 1; i <= agreements; i++)
        {
            var offered = JsonDocument.Parse(await Expect(Client(Dev(Roles.TenantAdmin, ids[i])).PostAsJsonAsync($"/api/tenants/{ids[i]}/sharing/agreements", new
            {
                recipientTenantId = me, scope = new { tags = new[] { "joint-op" } }, permissions = new[] { "read", "comment" },
                purpose = "Joint operation", expiresAt = DateTimeOffset.UtcNow.AddDays(365),
            }), HttpStatusCode.Created)).RootElement.GetProperty("id").GetGuid();
            await Expect(myAdmin.PostAsJsonAsync($"/api/tenants/{me}/sharing/agreements/{offered}/accept", new { }), HttpStatusCode.OK);
        }
        var channel = JsonDocument.Parse(await Expect(myAdmin.PostAsJsonAsync($"/api/tenants/{me}/collaborations", new
        {
            kind = "channel", name = "Bench COI", charter = "Benchmark channel", invite = ids.Skip(agreements + 1).Take(channelOwners).ToArray(),
        }), HttpStatusCode.Created)).RootElement.GetProperty("id").GetGuid();
        foreach (var t in ids.Skip(agreements + 1).Take(channelOwners))
            await Expect(Client(Dev(Roles.TenantAdmin, t)).PostAsync($"/api/tenants/{t}/collaborations/{channel}/accept", null), HttpStatusCode.OK);
        // The channel's shares as the service writes them (CaseFileShared's projection row), for 2,000 files.
        await using (var connection = new NpgsqlConnection(owner))
        {
            await connection.OpenAsync();
            await using (var writer = await connection.BeginBinaryImportAsync(
                             "copy tenantevents.case_shares (tenant_id, file_id, source_id, source_kind, grantee_tenant, permissions, expires_at, shared_at, file_updated_at, file_classification, file_tag_tokens) from stdin (format binary)"))
            {
                foreach (var (o, f, at, classification, tagTokens) in channelFiles)
                {
                    await writer.StartRowAsync();
                    await writer.WriteAsync(o.ToString(), NpgsqlDbType.Varchar);
                    await writer.WriteAsync(f, NpgsqlDbType.Uuid);
                    await writer.WriteAsync(channel, NpgsqlDbType.Uuid);
                    await writer.WriteAsync("collaboration", NpgsqlDbType.Text);
                    await writer.WriteNullAsync();
                    await writer.WriteAsync(new[] { "read" }, NpgsqlDbType.Array | NpgsqlDbType.Text);
                    await writer.WriteNullAsync();
                    await writer.WriteAsync(DateTimeOffset.UtcNow, NpgsqlDbType.TimestampTz);
                    await writer.WriteAsync(at, NpgsqlDbType.TimestampTz);
                    await writer.WriteAsync(classification, NpgsqlDbType.Text);
                    await writer.WriteAsync(tagTokens, NpgsqlDbType.Array | NpgsqlDbType.Text);
                }
                await writer.CompleteAsync();
            }
            await using var analyze = new NpgsqlCommand("analyze tenantevents.case_shares; analyze tenantevents.collaboration_members; analyze tenantevents.sharing_agreements", connection);
            await analyze.ExecuteNonQueryAsync();
        }
        int visibleShared;
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var tx = await connection.BeginTransactionAsync();
            await using var set = new NpgsqlCommand("select set_config('app.tenant_id', $1, true)", connection, tx);
            set.Parameters.Add(new NpgsqlParameter { Value = me.ToString() });
            await set.ExecuteNonQueryAsync();
            await using var count = new NpgsqlCommand("select count(*) from tenantevents.case_files where tenant_id <> $1", connection, tx);
            count.Parameters.Add(new NpgsqlParameter { Value = me.ToString() });
            visibleShared = (int)(long)(await count.ExecuteScalarAsync())!;
        }
        Console.WriteLine($"{agreements} agreements accepted and a channel of {channelOwners} tenants in {clock.Elapsed.TotalSeconds:F1} s; the database shows the reader's tenant {visibleShared:N0} files of others");
        if (visibleShared != agreements * perAgreement + channelOwners * perAgreement)
            throw new InvalidOperationException($"Expected {agreements * perAgreement + channelOwners * perAgreement} shared files, the database shows {visibleShared}.");

        // A cursor deep in the list (page 40) and a word that occurs in about 1% of files.
        string? deep = null;
        for (var page = 0; page < 40; page++)
        {
            var body = await user.GetFromJsonAsync<JsonElement>($"/api/tenants/{me}/case-files?limit=50{(deep is null ? "" : "&cursor=" + deep)}");
            deep = body.GetProperty("nextCursor").GetString();
        }
        var queries = new (string Name, string Query)[]
        {
            ("first page (own + shared)", "limit=50"),
            ("page 41 (cursor)", "limit=50&cursor=" + deep),
            ("shared only", "limit=50&source=shared"),
            ("own only (nothing to audit)", "limit=50&source=own"),
            ("search q=kw417", "limit=50&q=kw417"),
            ("tag=joint-op", "limit=50&tag=joint-op"),
        };
        var first = await user.GetFromJsonAsync<JsonElement>($"/api/tenants/{me}/case-files?limit=50");
        var sharedOnFirst = first.GetProperty("items").EnumerateArray().Count(i => i.GetProperty("shared").GetBoolean());
        Console.WriteLine($"first page: {first.GetProperty("items").GetArrayLength()} items, {sharedOnFirst} of them shared");

        await using var rawSource = NpgsqlDataSource.Create(owner);
        async Task<double> Raw()
        {
            var t = Stopwatch.StartNew();
            await using var command = rawSource.CreateCommand(
                "select id, version, key_version, nonce, ciphertext, updated_at from tenantevents.case_files where tenant_id = $1 order by updated_at desc, id desc limit 51");
            command.Parameters.Add(new NpgsqlParameter { Value = me.ToString() });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) { }
            return t.Elapsed.TotalMilliseconds;
        }
        async Task<double> Http(string query)
        {
            var t = Stopwatch.StartNew();
            using var response = await user.GetAsync($"/api/tenants/{me}/case-files?{query}");
            await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"{query}: {response.StatusCode}");
            return t.Elapsed.TotalMilliseconds;
        }
        for (var i = 0; i < 20; i++) { await Raw(); await Http(queries[i % queries.Length].Query); }
        // Where the time goes, by the service's own Server-Timing header (median of 20 per kind).
        foreach (var (name, query) in queries)
        {
            var parts = new Dictionary<string, List<double>>();
            for (var i = 0; i < 20; i++)
            {
                using var response = await user.GetAsync($"/api/tenants/{me}/case-files?{query}");
                foreach (var part in response.Headers.GetValues("Server-Timing").Single().Split(", "))
                {
                    var (key2, dur) = (part.Split(";dur=")[0], double.Parse(part.Split(";dur=")[1], System.Globalization.CultureInfo.InvariantCulture));
                    if (!parts.TryGetValue(key2, out var list)) parts[key2] = list = [];
                    list.Add(dur);
                }
            }
            Console.WriteLine($"  {name,-28} server time: {string.Join(", ", parts.Select(p => $"{p.Key} {Stats.Median(p.Value):F1} ms"))}");
        }
        const int perRound = 60;
        var results = queries.ToDictionary(q => q.Name, _ => new List<(double P50, double P95)>());
        var baseline = new List<(double P50, double P95)>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var raw = new List<double>();
            var line = new List<string>();
            foreach (var (name, query) in queries)
            {
                var times = new List<double>();
                for (var i = 0; i < perRound; i++)
                {
                    times.Add(await Http(query));
                    raw.Add(await Raw());
                }
                results[name].Add((Percentile(times, 0.50), Percentile(times, 0.95)));
                line.Add($"{name}: p50 {Percentile(times, 0.50):F1} p95 {Percentile(times, 0.95):F1}");
            }
            baseline.Add((Percentile(raw, 0.50), Percentile(raw, 0.95)));
            Console.WriteLine($"round {round}: {string.Join(" | ", line)} | raw page p50 {Percentile(raw, 0.50):F2} p95 {Percentile(raw, 0.95):F2} ms");
        }
        Console.WriteLine();
        Console.WriteLine($"== medians of {options.Rounds} rounds ({perRound} requests per kind per round, one client, {Environment.ProcessorCount} cores; " +
                          $"{seeded:N0} case files, {tenantCount} tenants, reader sees {own:N0} own + {visibleShared:N0} shared)");
        var rawP50 = Stats.Median(baseline.Select(b => b.P50));
        foreach (var (name, _) in queries)
        {
            var p50 = Stats.Median(results[name].Select(r => r.P50));
            var p95 = Stats.Median(results[name].Select(r => r.P95));
            Console.WriteLine($"{name,-28}: p50 {p50,6:F1} ms  p95 {p95,6:F1} ms  (aim: p95 under 50 ms)  ratio p50 to the raw page {p50 / rawP50,5:F1}x");
        }
        Console.WriteLine($"{"raw page of own rows (SQL)",-28}: p50 {rawP50,6:F2} ms  p95 {Stats.Median(baseline.Select(b => b.P95)),6:F2} ms  (baseline: owner role, no RLS, no decryption, no HTTP)");
        try { Directory.Delete(Service.SharedDataFolder, true); } catch (IOException) { }
        return 0;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    private static async Task<string> Expect(Task<HttpResponseMessage> request, HttpStatusCode status)
    {
        using var response = await request;
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != status) throw new InvalidOperationException($"Expected {status}, got {response.StatusCode}: {body}");
        return body;
    }
}
