using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Ledger;

/// <summary>
/// Issue 6. (1) Offline verification of an N-entry tenant log (default 1,000,000) as `tenantevents-audit verify` does
/// it: every leaf recomputed from its event (payload hashed, leaf data built and hashed), the tree rebuilt, every
/// checkpoint's signature and consistency checked, the roots compared. Baseline in the same run: raw SHA-256 over the
/// same bytes (each payload and each leaf's data, pre-encoded, one thread). Ratio = raw time / verification time.
/// (2) Command throughput with the ledger on versus off: the same service and tenants, renames from N concurrent
/// clients, the ledger trigger switched off and on between phases (alternating which goes first). Medians of rounds.
/// </summary>
static class AuditBench
{
    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var entries = int.Parse(Arg("--audit-entries", "1000000"));
        var commands = int.Parse(Arg("--audit-commands", "2000"));
        if (entries > 0) await Verification(entries, options.Rounds);
        if (commands > 0) await Commands(options, commands, connectionString, owner, platform);
        return 0;
    }

    private static async Task Verification(int n, int rounds)
    {
        Console.WriteLine($"building a {n:N0}-entry log (synthetic sealed events of ~330-byte payloads, checkpoints every {n / 10:N0})...");
        var tenant = Guid.CreateVersion7();
        var events = new LedgerEvent[n];
        var streams = Enumerable.Range(0, 1000).Select(_ => Guid.CreateVersion7()).ToArray();
        var versions = new long[streams.Length];
        var start = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < n; i++)
        {
            var s = i % streams.Length;
            var data = $"{{\"Nonce\": \"{Convert.ToBase64String(RandomNumberGenerator.GetBytes(12))}\", \"Ciphertext\": \"{Convert.ToBase64String(RandomNumberGenerator.GetBytes(220))}\", \"KeyVersion\": 1}}";
            events[i] = new LedgerEvent(i + 1, Guid.CreateVersion7(), streams[s], ++versions[s], "organisation_renamed",
                start.AddMilliseconds(i).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'"), Guid.NewGuid().ToString(), null, null, null, data);
        }
        var leaves = new byte[n][];
        Parallel.For(0, n, i => leaves[i] = LedgerLeaf.Hash(tenant, i, events[i]));
        var tree = new MerkleTree();
        foreach (var leaf in leaves) tree.Append(leaf);
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = NoteKey.ForSigning("bench.tenantevents.example", ecdsa);
        var origin = LedgerLeaf.Origin(key.Name, tenant);
        var sizes = Enumerable.Range(1, 10).Select(k => (long)n * k / 10).Distinct().Where(s => s > 0).ToList();
        var notes = sizes.Select(s => key.Sign(new Checkpoint(origin, s, tree.Root(s)).Body)).ToList();
        var proofs = sizes.Skip(1).Select((s, i) => new BundleConsistency(sizes[i], s, tree.ConsistencyProof(sizes[i], s))).ToList();
        var bundle = new AuditBundle(AuditBundle.CurrentFormat, tenant, origin, DateTimeOffset.UtcNow, [key.VerifierKey], notes, proofs,
            events.Select((e, i) => new BundleEntry(i, leaves[i], e)).ToList());
        var verifier = NoteKey.ParseVerifier(key.VerifierKey);

        // The same bytes, pre-encoded for the baseline: each payload and each leaf's data.
        var payloads = events.Select(e => Encoding.UTF8.GetBytes(e.Data)).ToArray();
        var leafData = events.Select((e, i) => LedgerLeaf.Data(tenant, i, e)).ToArray();
        var bytes = payloads.Sum(p => (long)p.Length) + leafData.Sum(d => (long)d.Length);

        var verifyTimes = new List<double>();
        var rawTimes = new List<double>();
        Span<byte> digest = stackalloc byte[32];
        for (var round = 1; round <= rounds; round++)
        {
            GC.Collect();
            var raw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                SHA256.HashData(payloads[i], digest);
                SHA256.HashData(leafData[i], digest);
            }
            raw.Stop();
            GC.Collect();
            var verify = Stopwatch.StartNew();
            var report = BundleVerifier.Verify(bundle, verifier);
            verify.Stop();
            if (!report.Verified || report.Entries != n) throw new InvalidOperationException("The benchmark's own log did not verify: " + report.FirstBad?.Message);
            verifyTimes.Add(verify.Elapsed.TotalSeconds);
            rawTimes.Add(raw.Elapsed.TotalSeconds);
            Console.WriteLine($"round {round}: verify {verify.Elapsed.TotalSeconds:F2} s, raw SHA-256 over the same {bytes / 1e6:F0} MB {raw.Elapsed.TotalSeconds:F2} s " +
                              $"({bytes / 1e6 / raw.Elapsed.TotalSeconds:F0} MB/s), ratio {raw.Elapsed.TotalSeconds / verify.Elapsed.TotalSeconds:F2}");
        }
        // As an auditor runs it: the command line on the bundle written to a file (reading and parsing included), once.
        var file = Path.Combine(Path.GetTempPath(), $"tenantevents-bench-bundle-{Guid.NewGuid():N}.json");
        double cliSeconds;
        long fileBytes;
        try
        {
            await using (var stream = File.Create(file))
                await System.Text.Json.JsonSerializer.SerializeAsync(stream, bundle, AuditBundle.Json);
            fileBytes = new FileInfo(file).Length;
            bundle = null!;
            events = null!;
            payloads = null!;
            leafData = null!;
            GC.Collect();
            var output = new StringWriter();
            var cli = Stopwatch.StartNew();
            var exit = TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", file, "--key", key.VerifierKey], output, output);
            cli.Stop();
            if (exit != 0) throw new InvalidOperationException("tenantevents-audit verify failed on the benchmark's bundle: " + output);
            cliSeconds = cli.Elapsed.TotalSeconds;
        }
        finally
        {
            File.Delete(file);
        }
        Console.WriteLine($"== verification of {n:N0} entries ({sizes.Count} checkpoints), median of {rounds}, {Environment.ProcessorCount} cores");
        Console.WriteLine($"tenantevents-audit verify, file: {cliSeconds:F2} s for a {fileBytes / 1e6:F0} MB bundle (reading and parsing included, one run)");
        Console.WriteLine($"verify                         : {Stats.Median(verifyTimes):F2} s   (aim: under 10 s)");
        Console.WriteLine($"raw SHA-256, same bytes        : {Stats.Median(rawTimes):F2} s");
        Console.WriteLine($"ratio raw / verify             : {Stats.Median(rawTimes.Zip(verifyTimes, (r, v) => r / v)):F2}   (aim: 0.5 or above)");
    }

    private static async Task Commands(BenchOptions options, int commands, string connectionString, string owner, string platform)
    {
        await InProcessService.ResetAsync(owner);
        var url = "http://127.0.0.1:5096";
        await using var app = await InProcessService.StartAsync(url, connectionString, platform,
            new Dictionary<string, string> { ["TenantEvents:AuditCheckpointInterval"] = "01:00:00" });
        var key = DevTokenKeyFile.Load(Service.SharedDataFolder);
        HttpClient Client(string role) => new()
        {
            BaseAddress = new Uri(url),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.Issue(key, "bench-" + role, [role], null, TimeSpan.FromHours(3), DateTime.UtcNow)) },
        };
        var admin = Client(Roles.PlatformAdmin);
        var approver = Client(Roles.PlatformApprover);
        var tenants = new string[Math.Max(options.Concurrency, 32)];
        for (var i = 0; i < tenants.Length; i++) tenants[i] = await Provisioning.ProvisionOneId(admin, approver, $"ledger-{i}");

        async Task Ledger(bool on)
        {
            await using var connection = new NpgsqlConnection(owner);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"alter table tenantevents.mt_events {(on ? "enable" : "disable")} trigger audit_ledger", connection);
            await command.ExecuteNonQueryAsync();
        }
        var counter = 0;
        async Task<double> Phase()
        {
            var next = -1;
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async worker =>
            {
                while (Interlocked.Increment(ref next) < commands)
                {
                    // Each worker renames its own tenants, so no two renames race on one stream.
                    var tenant = tenants[worker + options.Concurrency * (Interlocked.Increment(ref counter) % (tenants.Length / options.Concurrency))];
                    using var response = await admin.PutAsJsonAsync($"/api/tenants/{tenant}/name", new { name = $"Agency {Guid.NewGuid():N}" });
                    if (response.StatusCode != HttpStatusCode.OK && response.StatusCode != HttpStatusCode.Conflict)
                        throw new InvalidOperationException($"Rename answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }));
            return commands / wall.Elapsed.TotalSeconds;
        }
        await Phase(); // warm-up
        var on = new List<double>();
        var off = new List<double>();
        for (var round = 1; round <= options.Rounds; round++)
            foreach (var ledger in round % 2 == 1 ? new[] { true, false } : new[] { false, true })
            {
                await Ledger(ledger);
                var perSecond = await Phase();
                (ledger ? on : off).Add(perSecond);
                Console.WriteLine($"round {round}, ledger {(ledger ? "on " : "off")}: {perSecond:F0} commands/s");
            }
        await Ledger(true);
        await app.StopAsync();
        Console.WriteLine($"== command throughput, {commands} renames per phase, {options.Concurrency} clients, median of {options.Rounds}");
        Console.WriteLine($"ledger on                      : {Stats.Median(on):F0} commands/s");
        Console.WriteLine($"ledger off                     : {Stats.Median(off):F0} commands/s");
        Console.WriteLine($"ratio on / off                 : {Stats.Median(on.Zip(off, (a, b) => a / b)):F2}   (aim: 0.90 or above, i.e. at most 10% slower)");
    }
}
