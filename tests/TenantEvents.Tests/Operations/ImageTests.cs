using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Operations;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// The image `make image` built (.data/image/tenantevents-VERSION.oci.tar), checked as an operator would receive it. No
/// container runs in this sandbox (podman's crun fails on its cgroups), so the test unpacks the image's layers and runs its
/// entry point the way a runtime would: in new mount and PID namespaces, chrooted into the image's filesystem mounted
/// read-only, with a tmpfs on /tmp, the data folder on a volume, as the image's user, with only the image's environment
/// and the settings given. What it cannot show is the runtime's own isolation (cgroups, seccomp, network namespace).
/// Run by `make test-ops` (after `make image`), not by `make test`.
/// </summary>
[Trait("Category", "ops")]
public class ImageTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static string Archive => Path.Combine(TestDatabase.RepositoryRoot(), ".data", "image", $"tenantevents-{Release.Version}.oci.tar");

    private sealed record Image(JsonElement Config, string RootFs);

    /// <summary>The archive unpacked: its configuration and its layers applied in order into one folder.</summary>
    private static async Task<Image> UnpackAsync()
    {
        File.Exists(Archive).ShouldBeTrue($"{Archive} is missing: run `make image` first (make test-ops does).");
        var folder = Directory.CreateTempSubdirectory("tenantevents-image-").FullName;
        var blobs = Path.Combine(folder, "oci");
        Directory.CreateDirectory(blobs);
        await Run("tar", "-xf", Archive, "-C", blobs);
        string Blob(string digest) => Path.Combine(blobs, "blobs", "sha256", digest.Split(':')[1]);
        var index = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(blobs, "index.json"))).RootElement;
        var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Blob(index.GetProperty("manifests")[0].GetProperty("digest").GetString()!))).RootElement;
        var config = JsonDocument.Parse(await File.ReadAllTextAsync(Blob(manifest.GetProperty("config").GetProperty("digest").GetString()!))).RootElement;
        var rootfs = Path.Combine(folder, "rootfs");
        Directory.CreateDirectory(rootfs);
        foreach (var layer in manifest.GetProperty("layers").EnumerateArray())
        {
            layer.GetProperty("mediaType").GetString().ShouldBe("application/vnd.oci.image.layer.v1.tar+gzip");
            await Run("tar", "--numeric-owner", "-xzf", Blob(layer.GetProperty("digest").GetString()!), "-C", rootfs);
        }
        Directory.Delete(blobs, recursive: true);
        return new Image(config, rootfs);
    }

    [Fact]
    public async Task the_image_is_small_non_root_and_holds_no_sdk_no_shell_and_no_package_manager()
    {
        var image = await UnpackAsync();
        try
        {
            await CheckImageAsync(image);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(image.RootFs)!, recursive: true);
        }
    }

    private static async Task CheckImageAsync(Image image)
    {
        var config = image.Config.GetProperty("config");
        config.GetProperty("User").GetString().ShouldBe("10001:10001");
        config.GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()).ShouldBe(["/app/TenantEvents"]);
        config.GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()).ShouldBe(["serve"]);
        var env = config.GetProperty("Env").EnumerateArray().Select(e => e.GetString()!).ToList();
        env.ShouldContain("ASPNETCORE_ENVIRONMENT=Production");
        env.ShouldContain("TenantEvents__DataFolder=/var/lib/tenantevents");
        var labels = config.GetProperty("Labels");
        labels.GetProperty("org.opencontainers.image.version").GetString().ShouldBe(Release.Version);
        labels.GetProperty("org.opencontainers.image.revision").GetString().ShouldBe(await GitHead());

        File.Exists(Path.Combine(image.RootFs, "app", "TenantEvents")).ShouldBeTrue();
        foreach (var absent in new[] { "bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt-get", "usr/bin/dpkg", "usr/share/dotnet", "usr/bin/dotnet" })
            Path.Exists(Path.Combine(image.RootFs, absent)).ShouldBeFalse(absent);
        Directory.EnumerateFiles(image.RootFs, "dotnet", SearchOption.AllDirectories).ShouldBeEmpty("no dotnet host: the service is self-contained");
        Directory.EnumerateDirectories(image.RootFs, "sdk", SearchOption.AllDirectories).ShouldBeEmpty("no SDK");
        (await Run("stat", "-c", "%u:%g %a", Path.Combine(image.RootFs, "var", "lib", "tenantevents"))).Trim().ShouldBe("10001:10001 700");
        // Everything else belongs to root: the service cannot change its own code even where the root is writable.
        (await Run("find", image.RootFs, "-not", "-user", "0", "-not", "-path", "*/var/lib/tenantevents")).Trim().ShouldBeEmpty();

        var unpacked = Directory.EnumerateFiles(image.RootFs, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        unpacked.ShouldBeLessThan(250L << 20, "unpacked size");
        new FileInfo(Archive).Length.ShouldBeLessThan(120L << 20, "compressed size");
    }

    [Fact]
    public async Task the_image_migrates_a_new_database_then_serves_it_read_only_as_its_user_and_stops_on_sigterm()
    {
        var image = await UnpackAsync();
        try
        {
            await MigrateServeAndStopAsync(image);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(image.RootFs)!, recursive: true);
        }
    }

    private static async Task MigrateServeAndStopAsync(Image image)
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_image", migrate: false);
        var data = Directory.CreateTempSubdirectory("tenantevents-image-data-").FullName;
        await Run("chown", "10001:10001", data);
        var connections = new Dictionary<string, string>
        {
            ["ConnectionStrings__TenantEvents"] = db.App,
            ["ConnectionStrings__TenantEventsPlatform"] = db.Platform,
        };

        // migrate, as the schema owner, from the image's own entry point. The owner's connection string comes from a secret
        // file, as a Kubernetes secret mounted into the pod gives it.
        var secrets = Path.Combine(data, "secrets");
        Directory.CreateDirectory(secrets);
        await File.WriteAllTextAsync(Path.Combine(secrets, "ConnectionStrings__TenantEventsOwner"), db.Owner);
        var migrate = await ImageProcess.RunToEndAsync(image, data, connections, "migrate");
        migrate.Exit.ShouldBe(0, migrate.Output);
        // The serving process never holds the owner's credential (the chart mounts it into the migration job only).
        File.Delete(Path.Combine(secrets, "ConnectionStrings__TenantEventsOwner"));

        var (port, metricsPort) = (ServiceProcess.FreePort(), ServiceProcess.FreePort());
        await using var service = ImageProcess.Start(image, data, new Dictionary<string, string>(connections)
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port};http://127.0.0.1:{metricsPort}",
            ["TenantEvents__ManagementPort"] = metricsPort.ToString(),
            // Development only so that this test can sign its own tokens (the key is written to the data folder).
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["TenantEvents__PublicUrl"] = $"http://127.0.0.1:{port}",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await service.WaitReadyAsync(http);
        (await http.GetStringAsync("/health/started")).ShouldBe("Healthy");

        // The service runs as the image's user, not root.
        (await File.ReadAllLinesAsync($"/proc/{service.ServicePid}/status")).Single(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)
            .Skip(1).ShouldAllBe(uid => uid == "10001");

        // A tenant's life begins: its key is made under the data folder (the only place it may write), and events are sealed.
        string Token(string role) => ServiceProcess.Token(Path.Combine(data, "service"), role, role + "-1");
        var admin = Client(http, Token(Roles.PlatformAdmin));
        var id = Guid.Parse((await admin.Post("/api/tenants", TenantRequest())).ShouldBe(HttpStatusCode.Created).Str("id"));
        (await Client(http, Token(Roles.PlatformApprover)).Post($"/api/tenants/{id}/approve")).ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK);
        (await admin.Get($"/api/tenants/{id}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("active");
        Directory.EnumerateFiles(Path.Combine(data, "service", "keys"), "kek-v1.bin", SearchOption.AllDirectories).ShouldNotBeEmpty();

        var version = (await admin.Get("/api/platform/version")).ShouldBe(HttpStatusCode.OK).Json;
        version.GetProperty("version").GetString().ShouldBe(Release.Version);
        version.GetProperty("commit").GetString().ShouldBe(await GitHead());
        version.GetProperty("databases").EnumerateArray().ShouldAllBe(d => d.GetProperty("state").GetString() == "current");

        // Its metrics, on the management port.
        using var scrape = new HttpClient();
        (await scrape.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics")).ShouldContain("tenantevents_projection_lag_seconds");

        // Kubernetes stops a pod with SIGTERM: the service finishes and exits 0 well within the grace period.
        var exit = await service.TerminateAsync(TimeSpan.FromSeconds(30));
        exit.ShouldBe(0, service.Output);
        // Its log is JSON, one object per line, with the level and category (what a log collector reads).
        var lines = service.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Length.ShouldBeGreaterThan(0);
        foreach (var line in lines)
        {
            var entry = JsonDocument.Parse(line).RootElement;
            entry.TryGetProperty("LogLevel", out _).ShouldBeTrue(line);
            entry.TryGetProperty("Category", out _).ShouldBeTrue(line);
        }

        // As the image runs by default: Production (no development tokens), with only its public address given. It starts,
        // is ready, refuses a development token, and stops cleanly.
        var production = ServiceProcess.FreePort();
        await using var served = ImageProcess.Start(image, data, new Dictionary<string, string>(connections)
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{production}",
            ["TenantEvents__PublicUrl"] = "https://events.example.test",
        });
        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{production}") };
        await served.WaitReadyAsync(plain);
        (await plain.GetStringAsync("/health/started")).ShouldBe("Healthy");
        (await Client(plain, Token(Roles.PlatformAdmin)).Get("/api/platform/version")).Status.ShouldBe(HttpStatusCode.Unauthorized);
        (await served.TerminateAsync(TimeSpan.FromSeconds(30))).ShouldBe(0, served.Output);
    }

    private static HttpClient Client(HttpClient template, string token)
    {
        var client = new HttpClient { BaseAddress = template.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }


    private static async Task<string> GitHead() => (await Run("git", "-C", TestDatabase.RepositoryRoot(), "rev-parse", "--short=12", "HEAD")).Trim();

    private static async Task<string> Run(string file, params string[] arguments)
    {
        var (exit, output, error) = await Processes.RunAsync(file, arguments);
        exit.ShouldBe(0, $"{file} {string.Join(' ', arguments)}: {error}");
        return output;
    }

    /// <summary>
    /// The image's entry point run as a container runtime would: the image's environment (and the settings given), its user,
    /// its filesystem read-only with a tmpfs on /tmp, the data folder's "service" subfolder mounted on the image's volume and
    /// its "secrets" subfolder on the secrets folder, in mount and PID namespaces of its own.
    /// </summary>
    private sealed class ImageProcess : IAsyncDisposable
    {
        private const string Script = """
            set -e
            root=$1; data=$2; shift 2
            mount --make-rprivate /
            mount --bind "$root" "$root"
            mount -o remount,bind,ro "$root"
            mount -t proc proc "$root/proc"
            mount -t tmpfs -o mode=1777,size=64m tmpfs "$root/tmp"
            mount --bind "$data/service" "$root/var/lib/tenantevents"
            mount -o bind,ro "$data/secrets" "$root/run/secrets/tenantevents"
            mount --rbind /dev "$root/dev"
            exec env -i "$@"
            """;

        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();

        private ImageProcess(Process process) => _process = process;

        public string Output { get { lock (_output) return _output.ToString(); } }

        public static ImageProcess Start(Image image, string data, IDictionary<string, string> settings, string? command = null)
        {
            Directory.CreateDirectory(Path.Combine(data, "service"));
            Directory.CreateDirectory(Path.Combine(data, "secrets"));
            Run("chown", "10001:10001", Path.Combine(data, "service")).GetAwaiter().GetResult();
            var config = image.Config.GetProperty("config");
            var env = config.GetProperty("Env").EnumerateArray().Select(e => e.GetString()!)
                .Select(e => e.Split('=', 2)).ToDictionary(e => e[0], e => e[1]);
            foreach (var (key, value) in settings) env[key] = value;
            var start = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[] { "--mount", "--pid", "--fork", "--kill-child", "bash", "-c", Script, "image", image.RootFs, data })
                start.ArgumentList.Add(argument);
            foreach (var (key, value) in env) start.ArgumentList.Add($"{key}={value}");
            var user = config.GetProperty("User").GetString()!;
            foreach (var argument in new[] { "/usr/sbin/chroot", "--userspec=" + user, image.RootFs })
                start.ArgumentList.Add(argument);
            foreach (var part in config.GetProperty("Entrypoint").EnumerateArray()) start.ArgumentList.Add(part.GetString()!);
            if (command is not null) start.ArgumentList.Add(command);
            else foreach (var part in config.GetProperty("Cmd").EnumerateArray()) start.ArgumentList.Add(part.GetString()!);
            var process = Process.Start(start)!;
            var result = new ImageProcess(process);
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (result._output) result._output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (result._output) result._output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return result;
        }

        public static async Task<(int Exit, string Output)> RunToEndAsync(Image image, string data, IDictionary<string, string> settings, string command)
        {
            await using var process = Start(image, data, settings, command);
            await process._process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
            return (process._process.ExitCode, process.Output);
        }

        /// <summary>The service's own process: unshare's child (bash, which exec'd env, chroot and the service).</summary>
        public int ServicePid => int.Parse(File.ReadAllText($"/proc/{_process.Id}/task/{_process.Id}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Single());

        public async Task WaitReadyAsync(HttpClient http)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (_process.HasExited) throw new InvalidOperationException("The image's service ended at start:\n" + Output);
                try
                {
                    if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode) return;
                }
                catch (HttpRequestException)
                {
                }
                await Task.Delay(100);
            }
            throw new TimeoutException("The image's service did not become ready:\n" + Output);
        }

        public async Task<int> TerminateAsync(TimeSpan grace)
        {
            ServiceProcess.Terminate(ServicePid);
            await _process.WaitForExitAsync().WaitAsync(grace);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }
    }
}
