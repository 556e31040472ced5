using System.Diagnostics;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.WebConsole;

/// <summary>
/// The web console (console/) in a real browser: each role's journey (console/tests/journeys.mjs, playwright-core driving
/// Debian's Chromium, axe-core on every page) against a real service process on a database of its own; and the page's
/// proof verifier against the published RFC 9162 vectors (console/tests/proof.test.mjs). Screenshots are kept in
/// .data/console-screenshots (not committed).
/// </summary>
public class ConsoleTests
{
    private static string ConsoleFolder => Path.Combine(TestDatabase.RepositoryRoot(), "console");

    [Fact]
    public async Task every_role_walks_its_journey_in_chromium_and_sees_nothing_the_api_refuses()
    {
        File.Exists(Path.Combine(Path.GetDirectoryName(ServiceProcess.Dll())!, "console", "index.html"))
            .ShouldBeTrue("the service's build holds no console: run `make console` before building (make test does)");
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_console");
        var folder = Directory.CreateTempSubdirectory("tenantevents-console-").FullName;
        // The tenant's own OpenID provider and the platform staff's, for the sign-ins (authorization code with PKCE): real processes.
        await using var idp = await TestIdentityProvider.StartAsync();
        await using var staff = await TestIdentityProvider.StartAsync();
        await using var service = await ServiceProcess.StartAsync(db, folder, new Dictionary<string, string>
        {
            ["TenantEvents:AllowInsecureIdentityProviders"] = "true",
            ["TenantEvents:PlatformIdentityProvider:Issuer"] = staff.Issuer,
            ["TenantEvents:PlatformIdentityProvider:Audience"] = "tenantevents-console-staff",
            ["TenantEvents:PlatformIdentityProvider:Roles:platform-operators"] = "platform-admin,platform-approver",
        });
        var screenshots = Path.Combine(TestDatabase.RepositoryRoot(), ".data", "console-screenshots");
        if (Directory.Exists(screenshots)) Directory.Delete(screenshots, recursive: true);
        var (exit, output) = await NodeAsync(["tests/journeys.mjs"], new()
        {
            ["BASE"] = service.Url,
            ["IDP"] = idp.Issuer,
            ["STAFF_IDP"] = staff.Issuer,
            ["TOKEN_CMD"] = System.Text.Json.JsonSerializer.Serialize(new[] { "dotnet", ServiceProcess.Dll(), "dev-token" }),
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["TenantEvents__DataFolder"] = folder,
            ["SCREENSHOTS"] = screenshots,
        }, TimeSpan.FromMinutes(8));
        exit.ShouldBe(0, output + "\nservice:\n" + service.Output[^Math.Min(4000, service.Output.Length)..]);
        output.ShouldContain("journeys: 9 passed, 0 failure(s)");
        Directory.GetFiles(screenshots, "*.png").Length.ShouldBeGreaterThanOrEqualTo(20);
        var failures = service.Output.Split('\n').Where(l => l.StartsWith("fail:") || l.StartsWith("crit:")).ToList();
        failures.ShouldBeEmpty(string.Join("\n", failures));
    }

    [Fact]
    public async Task the_page_s_proof_verifier_passes_the_published_merkle_vectors()
    {
        var vectors = Path.Combine(TestDatabase.RepositoryRoot(), "..", "shared", "testdata", "merkle");
        var (exit, output) = await NodeAsync(["--test", "tests/proof.test.mjs"], new() { ["MERKLE_VECTORS"] = Path.GetFullPath(vectors) }, TimeSpan.FromMinutes(1));
        exit.ShouldBe(0, output);
        output.ShouldContain("# fail 0");
    }

    private static async Task<(int Exit, string Output)> NodeAsync(IReadOnlyList<string> arguments, Dictionary<string, string> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = ConsoleFolder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        return (process.ExitCode, await output + await errors);
    }
}
