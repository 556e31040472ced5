using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using TenantEvents.Operations;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// TLS with a certificate per name (SNI) from a folder: certificates made by openssl, asked for by curl with --resolve
/// (the name on the wire, the connection to loopback) trusting only the expected issuer, and by a TLS client that reads
/// which certificate was served. A chain is sent whole; a certificate renewed or added while the service runs is served.
/// </summary>
public class TlsTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<(int Exit, string Output)> Run(string file, string directory, params string[] arguments)
    {
        var (exit, output, error) = await Processes.RunAsync(file, arguments, directory);
        return (exit, output + error);
    }

    private static async Task OpenSsl(string folder, params string[] arguments)
    {
        var (exit, output) = await Run("openssl", folder, arguments);
        exit.ShouldBe(0, output);
    }

    private static readonly string[] NewKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

    /// <summary>A self-signed certificate for the names (the first is its subject), as FILE.crt and FILE.key.</summary>
    private static Task SelfSigned(string folder, string file, params string[] names) =>
        OpenSsl(folder, ["req", "-x509", .. NewKey, "-keyout", file + ".key", "-out", file + ".crt", "-days", "2", "-subj", "/CN=" + names[0],
            "-addext", "subjectAltName=" + string.Join(",", names.Select(n => "DNS:" + n))]);

    /// <summary>A root, an intermediate it signs, and a leaf for the name the intermediate signs: FILE.crt holds leaf then intermediate.</summary>
    private static async Task Chained(string folder, string ca, string file, string name)
    {
        await File.WriteAllTextAsync(Path.Combine(ca, "ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
        await File.WriteAllTextAsync(Path.Combine(ca, "leaf.ext"), $"basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:{name}\n");
        await OpenSsl(ca, ["req", "-x509", .. NewKey, "-keyout", "root.key", "-out", "root.pem", "-days", "2", "-subj", "/CN=Test Root",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        await OpenSsl(ca, ["req", .. NewKey, "-keyout", "intermediate.key", "-out", "intermediate.csr", "-subj", "/CN=Test Intermediate"]);
        await OpenSsl(ca, "x509", "-req", "-in", "intermediate.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "2",
            "-extfile", "ca.ext", "-out", "intermediate.pem");
        await OpenSsl(ca, ["req", .. NewKey, "-keyout", Path.Combine(folder, file + ".key"), "-out", "leaf.csr", "-subj", "/CN=" + name]);
        await OpenSsl(ca, "x509", "-req", "-in", "leaf.csr", "-CA", "intermediate.pem", "-CAkey", "intermediate.key", "-CAcreateserial", "-days", "2",
            "-extfile", "leaf.ext", "-out", "leaf.pem");
        await File.WriteAllTextAsync(Path.Combine(folder, file + ".crt"),
            await File.ReadAllTextAsync(Path.Combine(ca, "leaf.pem")) + await File.ReadAllTextAsync(Path.Combine(ca, "intermediate.pem")));
    }

    /// <summary>curl to https://NAME:PORT/health/live with the name resolved to loopback, trusting only the given file.</summary>
    private static Task<(int Exit, string Output)> Curl(string folder, string name, int port, string trust) =>
        Run("curl", folder, "--silent", "--show-error", "--max-time", "10", "--resolve", $"{name}:{port}:127.0.0.1", "--cacert", trust,
            $"https://{name}:{port}/health/live");

    /// <summary>The certificate served for a name (null when the handshake is refused).</summary>
    private static async Task<X509Certificate2?> Served(int port, string name)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        try
        {
            await tls.AuthenticateAsClientAsync(name);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            return null;
        }
        return new X509Certificate2(tls.RemoteCertificate!);
    }

    private static async Task<T> Eventually<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = Stopwatch.StartNew();
        var value = await read();
        while (!done(value) && deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(250);
            value = await read();
        }
        return value;
    }

    [Fact]
    public async Task each_name_gets_its_own_certificate_with_its_chain_and_renewals_are_served_without_a_restart()
    {
        var certificates = Directory.CreateTempSubdirectory("tenantevents-tls-").FullName;
        var ca = Directory.CreateTempSubdirectory("tenantevents-tls-ca-").FullName;
        await SelfSigned(certificates, "platform", "events.example.test");
        await SelfSigned(certificates, "agencies", "*.agencies.example.test");
        await Chained(certificates, ca, "customer", "portal.customer.example.test");
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
        // The chain is sent whole: trusting only the root, curl (which fetches nothing) verifies leaf and intermediate.
        (await Curl(certificates, "portal.customer.example.test", https, Path.Combine(ca, "root.pem"))).ShouldBe((0, "Healthy"));
        // Each name its own certificate, whatever case or trailing dot it is asked in.
        (await Served(https, "events.example.test"))!.Subject.ShouldBe("CN=events.example.test");
        (await Served(https, "EVENTS.example.test."))!.Subject.ShouldBe("CN=events.example.test");
        (await Served(https, "justice.agencies.example.test"))!.Subject.ShouldBe("CN=*.agencies.example.test");
        // A wildcard covers one label, not two, nor none; a name no certificate serves is refused (no default yet).
        (await Served(https, "a.b.agencies.example.test")).ShouldBeNull();
        (await Served(https, "agencies.example.test")).ShouldBeNull();

        // A default for the other names, added while the service runs.
        await SelfSigned(certificates, "default", "fallback.example.test");
        (await Eventually(() => Served(https, "unknown.example.test"), c => c is not null))?.Subject.ShouldBe("CN=fallback.example.test");

        // A renewal moved in with an older time than the files around it (cp -p, rsync -a) is still seen.
        var before = (await Served(https, "events.example.test"))!.Thumbprint;
        var renewal = Directory.CreateTempSubdirectory("tenantevents-tls-renewal-").FullName;
        await SelfSigned(renewal, "platform", "events.example.test");
        foreach (var part in new[] { "platform.crt", "platform.key" })
        {
            File.Copy(Path.Combine(renewal, part), Path.Combine(certificates, part), overwrite: true);
            File.SetLastWriteTimeUtc(Path.Combine(certificates, part), DateTime.UtcNow.AddDays(-30));
        }
        var renewed = await Eventually(() => Served(https, "events.example.test"), c => c?.Thumbprint != before);
        renewed!.Thumbprint.ShouldNotBe(before);
        (await Curl(certificates, "events.example.test", https, Path.Combine(renewal, "platform.crt"))).ShouldBe((0, "Healthy"));
    }

    [Fact]
    public async Task a_tenants_subdomain_is_served_with_its_certificate_and_names_itself_and_a_connection_for_one_name_serves_no_other()
    {
        var certificates = Directory.CreateTempSubdirectory("tenantevents-tls-").FullName;
        await SelfSigned(certificates, "platform", "events.example.test");
        await SelfSigned(certificates, "agencies", "*.agencies.example.test");
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_tls_domains");
        var (http, https) = (ServiceProcess.FreePort(), ServiceProcess.FreePort());
        var data = Directory.CreateTempSubdirectory("tenantevents-tls-data-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, data, new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{http};https://127.0.0.1:{https}",
            ["TenantEvents:CertificatesFolder"] = certificates,
            ["TenantEvents:PublicUrl"] = $"https://events.example.test:{https}",
            ["TenantEvents:TenantDomainZone"] = "agencies.example.test",
        }, http);
        var clients = new ProcessClients(new Uri(service.Url), data);
        var (tenant, _) = await clients.ActiveTenantAsync("justice");
        (await clients.As(TenantEvents.Infrastructure.Security.Roles.TenantAdmin, tenant).Post($"/api/tenants/{tenant}/domains", new { subdomain = "justice" }))
            .ShouldBe(System.Net.HttpStatusCode.Created).Str("state").ShouldBe("verified");

        async Task<(int Exit, string Output)> Get(string name, string trust, string path, params string[] extra) =>
            await Run("curl", certificates, ["--silent", "--show-error", "--max-time", "10", "--resolve", $"{name}:{https}:127.0.0.1", "--cacert", trust,
                .. extra, $"https://{name}:{https}{path}"]);
        string Issuer((int Exit, string Output) reply)
        {
            reply.Exit.ShouldBe(0, reply.Output);
            return System.Text.Json.JsonDocument.Parse(reply.Output).RootElement.GetProperty("issuer").GetString()!;
        }
        // The tenant's name, with the wildcard certificate: its discovery document names it; the platform's names the platform.
        Issuer(await Get("justice.agencies.example.test", "agencies.crt", "/.well-known/openid-configuration"))
            .ShouldBe($"https://justice.agencies.example.test:{https}");
        Issuer(await Get("events.example.test", "platform.crt", "/.well-known/openid-configuration")).ShouldBe($"https://events.example.test:{https}");
        // A connection opened for the platform's name (SNI) is not used for the tenant's (Host): 421.
        var misdirected = await Get("events.example.test", "platform.crt", "/.well-known/openid-configuration",
            "-H", $"Host: justice.agencies.example.test:{https}", "-o", "/dev/null", "-w", "%{http_code}");
        misdirected.ShouldBe((0, "421"));
        // The platform's routes are not served at the tenant's name.
        var platform = await Get("justice.agencies.example.test", "agencies.crt", "/api/tenants", "-o", "/dev/null", "-w", "%{http_code}");
        platform.ShouldBe((0, "404"));
    }

    [Theory]
    [InlineData("events.example.test", "events")]
    [InlineData("Events.Example.Test.", "events")]
    [InlineData("x.agencies.example.test", "wildcard")]
    [InlineData("x.y.agencies.example.test", null)]
    [InlineData("agencies.example.test", null)]
    [InlineData("", null)]
    public void a_name_matches_exactly_or_by_a_wildcard_of_one_label(string name, string? expected)
    {
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["events.example.test"] = "events", ["*.agencies.example.test"] = "wildcard" };
        CertificateStore.Match(byName, name).ShouldBe(expected);
    }
}
