using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// A rolling upgrade from the previous release (the commit named in ops/upgrade/previous-release, built from this
/// repository's history) to this one, as the chart does it: the previous release's three instances serve a database it
/// migrated; this release's `migrate` runs while they serve; then one instance at a time is drained in the proxy, stopped
/// with SIGTERM and replaced by this release. Load runs throughout: no 5xx, no failed request, no acknowledged command
/// lost, and both releases answer side by side during the rollout. Run by `make test-ops`.
/// </summary>
[Trait("Category", "ops")]
public class UpgradeTests(AppFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IntegrationTest(fixture)
{
    [Fact]
    public async Task a_rolling_upgrade_from_the_previous_release_fails_no_request_and_loses_no_command()
    {
        var previous = await PreviousReleaseAsync();
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_upgrade", migrate: true, dll: previous);
        var folder = Directory.CreateTempSubdirectory("tenantevents-upgrade-").FullName;
        var instances = new List<ServiceProcess>();
        Haproxy? proxy = null;
        try
        {
            for (var i = 0; i < 3; i++) instances.Add(await ServiceProcess.StartAsync(db, folder, dll: previous));
            var proxyPort = ServiceProcess.FreePort();
            proxy = await Haproxy.StartAsync(proxyPort, instances.Select(s => s.Port).ToList());
            var clients = new ProcessClients(new Uri($"http://127.0.0.1:{proxyPort}"), folder);
            var (tenant, root) = await clients.ActiveTenantAsync("upgrade-agency");
            var admin = clients.As(Roles.TenantAdmin, tenant);

            // Load: writers create units and read them back, without pause, until the rollout is over.
            var acknowledged = new ConcurrentBag<Guid>();
            var failures = new ConcurrentBag<string>();
            var releases = new ConcurrentDictionary<string, int>();
            var requests = 0;
            using var stop = new CancellationTokenSource();
            var platform = clients.As(Roles.PlatformAdmin);
            var load = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    try
                    {
                        Interlocked.Add(ref requests, 3);
                        var created = await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = $"Unit {w}-{n}", kind = "unit" });
                        if (created.Status != HttpStatusCode.Created) { failures.Add($"create {(int)created.Status} {created.Body}"); continue; }
                        var id = Guid.Parse(created.Str("id"));
                        acknowledged.Add(id);
                        var read = await admin.Get($"/api/tenants/{tenant}/organisations/{id}");
                        if (read.Status != HttpStatusCode.OK) failures.Add($"read {(int)read.Status} {read.Body}");
                        // Which release answered: the previous one has no version endpoint (404), this one names its commit.
                        var version = await platform.Get("/api/platform/version");
                        releases.AddOrUpdate(version.Status == HttpStatusCode.OK ? version.Str("commit") : $"previous ({(int)version.Status})", 1, (_, c) => c + 1);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        failures.Add(e.GetType().Name + ": " + e.Message);
                    }
                }
            })).ToList();

            // This release's migrations, while the previous release serves (the chart's pre-upgrade job).
            var (exit, migrated) = await ServiceProcess.MigrateAsync(db);
            exit.ShouldBe(0, migrated);

            // One instance at a time: drained, stopped, replaced on the same port, back in rotation once ready.
            var stopped = new List<int>();
            for (var i = 0; i < instances.Count; i++)
            {
                await proxy.SetStateAsync(i, "drain");
                var drained = Stopwatch.StartNew();
                while (await proxy.SessionsAsync(i) > 0 && drained.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
                stopped.Add(await instances[i].TerminateAsync(TimeSpan.FromSeconds(30)));
                await instances[i].DisposeAsync();
                instances[i] = await ServiceProcess.StartAsync(db, folder, port: instances[i].Port);
                await proxy.SetStateAsync(i, "ready");
                await Task.Delay(500); // a health check sees it ready, and some load reaches the mix
            }
            await Task.Delay(1000);
            await stop.CancelAsync();
            await Task.WhenAll(load);

            output.WriteLine($"{requests} requests, {acknowledged.Count} units created; answered by: " +
                             string.Join(", ", releases.Select(r => $"{r.Key} x{r.Value}")));
            failures.ShouldBeEmpty();
            stopped.ShouldAllBe(code => code == 0);
            releases.Keys.Count(k => k.StartsWith("previous")).ShouldBe(1, "the previous release served during the rollout");
            releases.Keys.Count(k => !k.StartsWith("previous")).ShouldBe(1, "and this one");
            releases.Keys.Single(k => !k.StartsWith("previous")).ShouldNotBe(PreviousCommit[..12]);

            // Nothing acknowledged was lost: every unit is there, read through this release.
            var listed = new HashSet<Guid>();
            string? cursor = null;
            do
            {
                var page = (await admin.Get($"/api/tenants/{tenant}/organisations/{root}/descendants?limit=200" + (cursor is null ? "" : $"&cursor={cursor}")))
                    .ShouldBe(HttpStatusCode.OK).Json;
                foreach (var o in page.GetProperty("items").EnumerateArray()) listed.Add(o.GetProperty("id").GetGuid());
                cursor = page.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            } while (cursor is not null);
            foreach (var id in acknowledged) listed.ShouldContain(id);
        }
        finally
        {
            if (proxy is not null) await proxy.DisposeAsync();
            foreach (var instance in instances) await instance.DisposeAsync();
        }
    }

    private static string PreviousCommit => File.ReadAllLines(Path.Combine(TestDatabase.RepositoryRoot(), "ops", "upgrade", "previous-release"))
        .First(l => l.Length > 0 && !l.StartsWith('#')).Trim();

    /// <summary>The previous release's TenantEvents.dll, built once from its commit in a worktree under .data.</summary>
    private static async Task<string> PreviousReleaseAsync()
    {
        var commit = PreviousCommit;
        var root = TestDatabase.RepositoryRoot();
        var tree = Path.Combine(root, ".data", "previous-release", commit[..12]);
        var dll = Path.Combine(tree, "src", "TenantEvents", "bin", "Debug", "net10.0", "TenantEvents.dll");
        if (File.Exists(dll)) return dll;
        if (!Directory.Exists(tree))
        {
            var (exit, text) = await Run("git", root, "worktree", "add", "--detach", "--force", tree, commit);
            exit.ShouldBe(0, $"the previous release {commit} must be in this clone's history: {text}");
        }
        var (built, log) = await Run("dotnet", tree, "build", "src/TenantEvents", "-nologo", "-clp:ErrorsOnly");
        built.ShouldBe(0, log);
        return dll;
    }

    private static async Task<(int Exit, string Output)> Run(string file, string directory, params string[] arguments)
    {
        var (exit, output, error) = await Processes.RunAsync(file, arguments, directory);
        return (exit, output + error);
    }

}
