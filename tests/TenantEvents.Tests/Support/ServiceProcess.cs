using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.IdentityModel.Tokens;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tests.Support;

/// <summary>
/// The service as a real process (the built TenantEvents.dll under Kestrel), over a database of its own, so that a test
/// can kill it (SIGKILL: no shutdown, nothing flushed) and start it again on the same data.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output;

    public string Url { get; }

    private ServiceProcess(Process process, string url, System.Text.StringBuilder output) => (_process, Url, _output) = (process, url, output);

    /// <summary>
    /// A fresh database for a process (dropped if it was there), migrated unless told not to; returns its (app, owner,
    /// platform) connection strings.
    /// </summary>
    public static async Task<(string App, string Owner, string Platform)> FreshDatabaseAsync(string name, bool migrate = true, string? dll = null)
    {
        var owner = new Npgsql.NpgsqlConnectionStringBuilder(TestDatabase.OwnerConnectionString);
        await using (var connection = new Npgsql.NpgsqlConnection(owner.ConnectionString))
        {
            await connection.OpenAsync();
            await using var drop = new Npgsql.NpgsqlCommand($"drop database if exists \"{name}\" with (force)", connection);
            await drop.ExecuteNonQueryAsync();
            await using var create = new Npgsql.NpgsqlCommand($"create database \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }
        string For(string connectionString) => new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Database = name }.ConnectionString;
        var strings = (For(TestDatabase.ConnectionString), For(TestDatabase.OwnerConnectionString), For(TestDatabase.PlatformConnectionString));
        if (!migrate) return strings;
        var migration = Start(strings, "migrate", null, new Dictionary<string, string>(), out _, dll);
        await migration.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        if (migration.ExitCode != 0) throw new InvalidOperationException("migrate failed: " + await migration.StandardError.ReadToEndAsync());
        return strings;
    }

    public static string Dll()
    {
        // The same configuration as these tests (bin/<Configuration>/net10.0).
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var path = Path.Combine(TestDatabase.RepositoryRoot(), "src", "TenantEvents", "bin", configuration, "net10.0", "TenantEvents.dll");
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: build the solution first.");
    }

    /// <summary>Runs `migrate` of the given build (this one by default) on a database; returns its exit code and output.</summary>
    public static Task<(int Exit, string Output)> MigrateAsync((string App, string Owner, string Platform) database, string? dll = null,
        IDictionary<string, string>? settings = null) =>
        CommandAsync(database, ["migrate"], settings, dll);

    /// <summary>Runs one of the service's commands (move-tenant, say) on a database to its end: its exit code and output.</summary>
    public static async Task<(int Exit, string Output)> CommandAsync((string App, string Owner, string Platform) database, IReadOnlyList<string> command,
        IDictionary<string, string>? settings = null, string? dll = null)
    {
        var process = Start(database, command[0], null, settings ?? new Dictionary<string, string>(), out _, dll, command.Skip(1));
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (process.ExitCode, await output + await error);
    }

    private static Process Start((string App, string Owner, string Platform) database, string? command, string? url, IDictionary<string, string> settings,
        out System.Text.StringBuilder output, string? dll = null, IEnumerable<string>? arguments = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll ?? Dll());
        if (command is not null) start.ArgumentList.Add(command);
        foreach (var argument in arguments ?? []) start.ArgumentList.Add(argument);
        // Only what is set here: not the test process's zones or connection strings.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("TenantEvents__", StringComparison.OrdinalIgnoreCase)
                                                               || k.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["ConnectionStrings__TenantEvents"] = database.App;
        start.Environment["ConnectionStrings__TenantEventsOwner"] = database.Owner;
        start.Environment["ConnectionStrings__TenantEventsPlatform"] = database.Platform;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        // Development: the service accepts development tokens (signed with the key in its data folder).
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        if (url is not null) start.Environment["ASPNETCORE_URLS"] = url;
        foreach (var (key, value) in settings) start.Environment[key.Replace(":", "__")] = value;
        var process = Process.Start(start)!;
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        if (command is null)
        {
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }
        output = log;
        return process;
    }

    /// <summary>Starts the service on a free loopback port and waits until it is ready.</summary>
    public static async Task<ServiceProcess> StartAsync((string App, string Owner, string Platform) database, string dataFolder,
        IDictionary<string, string>? settings = null, int? port = null, string? dll = null)
    {
        port ??= FreePort();
        var url = $"http://127.0.0.1:{port}";
        // The test's own settings win (a public URL of its choosing, say).
        var all = new Dictionary<string, string>
        {
            ["TenantEvents:DataFolder"] = dataFolder,
            ["TenantEvents:PublicUrl"] = url,
            ["TenantEvents:AllowPrivateWebhooks"] = "true",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) all[key] = value;
        var process = Start(database, null, url, all, out var output, dll);
        var service = new ServiceProcess(process, url, output);
        using var http = new HttpClient();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException("The service ended at start:\n" + service.Output);
            try
            {
                if ((await http.GetAsync(url + "/health/ready")).IsSuccessStatusCode) return service;
            }
            catch (HttpRequestException)
            {
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("The service did not become ready:\n" + service.Output);
            await Task.Delay(100);
        }
    }

    public int Port => new Uri(Url).Port;

    /// <summary>The service's process id.</summary>
    public int Pid => _process.Id;

    public string Output { get { lock (_output) return _output.ToString(); } }

    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = new Uri(Url) };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A development token the service accepts (its signing key is in the data folder).</summary>
    public static string Token(string dataFolder, string role, string subject, Guid? tenant = null) =>
        DevTokens.Issue(DevTokenKeyFile.Load(dataFolder), subject, [role], tenant, TimeSpan.FromMinutes(30), DateTime.UtcNow);

    /// <summary>Stops the process as an orchestrator does (SIGTERM: in-flight requests finish, then it exits); its exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan grace)
    {
        if (_process.HasExited) return _process.ExitCode;
        Terminate(_process.Id);
        await _process.WaitForExitAsync().WaitAsync(grace);
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM (what an orchestrator sends to stop a process; .NET's Process.Kill sends SIGKILL).</summary>
    public static void Terminate(int pid)
    {
        if (SendSignal(pid, 15) != 0) throw new InvalidOperationException($"kill({pid}, SIGTERM) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Kills the process at once (as a crash would): no graceful shutdown.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>A free loopback port (for a process, a proxy or a second listener).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
