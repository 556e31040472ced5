using System.Diagnostics;
using System.Net;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// TLS with a certificate per name (SNI) from a folder: certificates made by openssl, asked for by curl with --resolve
/// (the name on the wire, the connection to loopback), each trusted only as its own CA. A certificate added while the
/// service runs is served without a restart.
/// </summary>
public class TlsTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<(int Exit, string Output)> Run(string file, string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    /// <summary>A self-signed certificate for the names (the first is its subject), as NAME.crt and NAME.key in the folder.</summary>
    private static async Task Certificate(string folder, string file, params string[] names)
    {
        var (exit, output) = await Run("openssl", folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", file + ".key", "-out", file + ".crt", "-days", "2", "-subj", "/CN=" + names[0],
            "-addext", "subjectAltName=" + string.Join(",", names.Select(n => "DNS:" + n)));
        exit.ShouldBe(0, output);
    }

    /// <summary>curl to https://NAME:PORT/health/live with the name resolved to loopback, trusting only the given certificate.</summary>
    private static Task<(int Exit, string Output)> Curl(string folder, string name, int port, string trust) =>
        Run("curl", folder, "--silent", "--show-error", "--max-time", "10", "--resolve", $"{name}:{port}:127.0.0.1", "--cacert", trust,
            $"https://{name}:{port}/health/live");

    [Fact]
    public async Task each_name_gets_its_own_certificate_and_a_new_one_is_served_without_a_restart()
    {
        var certificates = Directory.CreateTempSubdirectory("tenantevents-tls-").FullName;
        await Certificate(certificates, "platform", "events.example.test");
        await Certificate(certificates, "agencies", "*.agencies.example.test");
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_tls");
        var (http, https) = (ServiceProcess.FreePort(), ServiceProcess.FreePort());
        await using var service = await ServiceProcess.StartAsync(db, Directory.CreateTempSubdirectory("tenantevents-tls-data-").FullName,
            new Dictionary<string, string>
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{http};https://127.0.0.1:{https}",
                ["TenantEvents:CertificatesFolder"] = certificates,
            }, http);

        (await Curl(certificates, "events.example.test", https, "platform.crt")).ShouldBe((0, "Healthy"));
        (await Curl(certificates, "justice.agencies.example.test", https, "agencies.crt")).ShouldBe((0, "Healthy")); // the wildcard
        // Each name its own certificate: the platform's name is not answered with the agencies' certificate.
        var (mismatch, _) = await Curl(certificates, "events.example.test", https, "agencies.crt");
        mismatch.ShouldBe(60); // curl: the peer's certificate is not trusted
        // A wildcard covers one label, not two.
        (await Curl(certificates, "a.b.agencies.example.test", https, "agencies.crt")).Exit.ShouldNotBe(0);

        // A tenant's custom domain gets its certificate while the service runs.
        await Certificate(certificates, "customer", "portal.customer.example.test");
        var deadline = Stopwatch.StartNew();
        (int Exit, string Output) served;
        do
        {
            served = await Curl(certificates, "portal.customer.example.test", https, "customer.crt");
            if (served.Exit != 0) await Task.Delay(250);
        } while (served.Exit != 0 && deadline.Elapsed < TimeSpan.FromSeconds(15));
        served.ShouldBe((0, "Healthy"));
    }

}
