using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// Tenants as code at scale (issue 21): a manifest of 5,000 organisations (a tree up to 6 deep) and 5,000 grants, planned,
/// applied, and planned again (no changes), against the same tree and grants sent to a second tenant through the batch API
/// alone (organisations/batch and grants/batch, 1,000 a call, parents first): the baseline, measured in the same run.
/// Prints each round and the medians with the ratio apply / batch API.
/// </summary>
static class ManifestBench
{
    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        var count = args.SkipWhile(a => a != "--manifest-orgs").Skip(1).Select(int.Parse).FirstOrDefault(5000);
        await using var service = await Service.StartFresh(options, connectionString, owner, platform);
        HttpClient Client(string role, Guid? tenant = null) => service.Client(role, tenant);

        // The tree: each organisation under a random one of the previous (up to depth 6), names unique among siblings.
        var random = new Random(21);
        var tree = new List<(int Parent, int Depth, string Path)> { (-1, 0, "/Bench Root") };
        for (var i = 1; i <= count; i++)
        {
            int parent;
            do parent = random.Next(tree.Count); while (tree[parent].Depth >= 6);
            tree.Add((parent, tree[parent].Depth + 1, $"{tree[parent].Path}/Unit {i}"));
        }
        var rows = new List<(double Plan, double Apply, double Replan, double Batch)>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var admin = Client(Roles.PlatformAdmin);
            var approver = Client(Roles.PlatformApprover);
            // The manifest's tenant, and the batch API's: both provisioned the same way, with the same root.
            var a = Guid.Parse(await Provisioning.ProvisionOneId(admin, approver, $"manifest-bench-{round}"));
            var b = Guid.Parse(await Provisioning.ProvisionOneId(admin, approver, $"batch-bench-{round}"));
            var tenantAdmin = Client(Roles.TenantAdmin, a);
            var record = await tenantAdmin.GetFromJsonAsync<JsonElement>($"/api/tenants/{a}");
            var rootName = record.GetProperty("name").GetString()!;
            var rootPath = "/" + rootName.Replace("~", "~0").Replace("/", "~1");
            var role = (await tenantAdmin.GetFromJsonAsync<JsonElement>($"/api/tenants/{a}/roles")).GetProperty("items")[0].GetProperty("name").GetString()!;
            string PathOf(int i) => rootPath + tree[i].Path["/Bench Root".Length..];

            var manifest = new StringBuilder();
            manifest.Append($$"""{"apiVersion":"tenantevents.io/v1","kind":"Tenant","metadata":{"name":"manifest-bench-{{round}}"},"spec":{""");
            manifest.Append($"\"name\":{JsonSerializer.Serialize(rootName)},\"template\":{JsonSerializer.Serialize(record.GetProperty("template").GetString())},");
            manifest.Append($"\"residency\":{record.GetProperty("residency").GetRawText()},\"organisations\":[");
            manifest.Append(string.Join(',', Enumerable.Range(0, tree.Count).Select(i =>
                $"{{\"path\":{JsonSerializer.Serialize(PathOf(i))}{(i == 0 ? "" : ",\"kind\":\"unit\"")}}}")));
            manifest.Append("],\"grants\":[");
            manifest.Append(string.Join(',', Enumerable.Range(1, count).Select(i =>
                $"{{\"organisation\":{JsonSerializer.Serialize(PathOf(i))},\"principal\":{{\"kind\":\"group\",\"id\":\"g{i % 50}\"}},\"role\":\"tenant-admin\"}}")));
            manifest.Append("]}}");
            var body = manifest.ToString().Replace("\"role\":\"tenant-admin\"", $"\"role\":{JsonSerializer.Serialize(role)}");

            var clock = Stopwatch.StartNew();
            var plan = await Send(tenantAdmin, "/api/manifests/plan", body, null);
            var planMs = clock.Elapsed.TotalMilliseconds;
            var digest = plan.GetProperty("digest").GetString()!;
            clock.Restart();
            await Send(tenantAdmin, "/api/manifests/apply", body, digest);
            var applyMs = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            var again = await Send(tenantAdmin, "/api/manifests/plan", body, null);
            var replanMs = clock.Elapsed.TotalMilliseconds;
            if (!again.GetProperty("inSync").GetBoolean()) throw new InvalidOperationException("The plan after apply is not empty.");

            // The baseline: the same tree and grants through the batch API, parents before children, 1,000 a call.
            var batchAdmin = Client(Roles.TenantAdmin, b);
            var rootB = (await batchAdmin.GetFromJsonAsync<JsonElement>($"/api/tenants/{b}/organisations?limit=200")).GetProperty("items").EnumerateArray()
                .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == JsonValueKind.Null).GetProperty("id").GetGuid();
            var ids = tree.Select((_, i) => i == 0 ? rootB : Guid.CreateVersion7()).ToArray();
            clock.Restart();
            foreach (var chunk in Enumerable.Range(1, count).OrderBy(i => tree[i].Depth).Chunk(1000))
                await Expect(await batchAdmin.PostAsJsonAsync($"/api/tenants/{b}/organisations/batch", new
                {
                    organisations = chunk.Select(i => new { id = ids[i], parentId = ids[tree[i].Parent], name = $"Unit {i}", kind = "unit" }),
                }));
            foreach (var chunk in Enumerable.Range(1, count).Chunk(1000))
                await Expect(await batchAdmin.PostAsJsonAsync($"/api/tenants/{b}/grants/batch", new
                {
                    grants = chunk.Select(i => new { organisationId = ids[i], principal = new { kind = "group", id = $"g{i % 50}" }, role }),
                }));
            var batchMs = clock.Elapsed.TotalMilliseconds;
            rows.Add((planMs, applyMs, replanMs, batchMs));
            Console.WriteLine($"round {round}: {count:N0} organisations + {count:N0} grants: plan {planMs:F0} ms, apply {applyMs:F0} ms, plan again {replanMs:F0} ms; " +
                              $"batch API alone {batchMs:F0} ms; apply / batch {applyMs / batchMs:F2}, plan + apply / batch {(planMs + applyMs) / batchMs:F2}");
        }
        Console.WriteLine();
        Console.WriteLine($"== median of {rows.Count} rounds ({count:N0} organisations, {count:N0} grants, {Environment.ProcessorCount} cores)");
        Console.WriteLine($"plan                 : {Stats.Median(rows.Select(r => r.Plan)):F0} ms");
        Console.WriteLine($"apply                : {Stats.Median(rows.Select(r => r.Apply)):F0} ms (plans again, then one transaction)");
        Console.WriteLine($"plan again (in sync) : {Stats.Median(rows.Select(r => r.Replan)):F0} ms");
        Console.WriteLine($"batch API alone      : {Stats.Median(rows.Select(r => r.Batch)):F0} ms ({(count + 999) / 1000 * 2} calls)");
        Console.WriteLine($"ratio apply / batch  : {Stats.Median(rows.Select(r => r.Apply / r.Batch)):F2}; plan + apply / batch {Stats.Median(rows.Select(r => (r.Plan + r.Apply) / r.Batch)):F2}");
        return 0;
    }

    private static async Task<JsonElement> Send(HttpClient client, string path, string body, string? digest)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (digest is not null) request.Headers.TryAddWithoutValidation("If-Match", $"\"{digest}\"");
        using var reply = await client.SendAsync(request);
        var text = await reply.Content.ReadAsStringAsync();
        if (!reply.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)reply.StatusCode} {text[..Math.Min(text.Length, 600)]}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task Expect(HttpResponseMessage reply)
    {
        if (!reply.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)reply.StatusCode} {await reply.Content.ReadAsStringAsync()}");
    }
}
