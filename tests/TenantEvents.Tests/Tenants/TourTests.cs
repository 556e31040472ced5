using System.Diagnostics;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

/// <summary>
/// The tour in docs/tour.sh (what `make tour` runs against `make run`) against a real service process on a database of
/// its own: every step's answers are checked by the script, so a change that breaks the tour fails here.
/// </summary>
public class TourTests
{
    [Fact]
    public async Task the_tour_goes_through_every_step_against_a_running_service()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_tour");
        var folder = Directory.CreateTempSubdirectory("tenantevents-tour-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, folder,
            new Dictionary<string, string>
            {
                ["TenantEvents:AllowInsecureIdentityProviders"] = "true", ["Logging:LogLevel:Default"] = "Information",
                ["TenantEvents:TenantDomainZone"] = "tenants.localhost", // as make run's
            });
        var root = TestDatabase.RepositoryRoot();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        start.ArgumentList.Add(Path.Combine(root, "docs", "tour.sh"));
        start.Environment["B"] = service.Url;
        start.Environment["DATA"] = folder;
        start.Environment["SERVICE_DLL"] = ServiceProcess.Dll();
        start.Environment["QUIET"] = "1";
        using var tour = Process.Start(start)!;
        var output = tour.StandardOutput.ReadToEndAsync();
        var errors = tour.StandardError.ReadToEndAsync();
        try
        {
            await tour.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        }
        finally
        {
            if (!tour.HasExited) tour.Kill(entireProcessTree: true);
        }
        var transcript = await output + await errors;
        tour.ExitCode.ShouldBe(0, "the tour stopped:\n" + transcript + "\nservice:\n" + service.Output[^Math.Min(4000, service.Output.Length)..]);
        transcript.ShouldContain("The tour went through all 16 steps.");
        foreach (var step in Enumerable.Range(1, 16)) transcript.ShouldContain($"== {step} ");
        // Nothing the tour does (bad input included) is a failure in the service's own log (which is captured: it has lines).
        service.Output.ShouldContain("info:");
        var failures = service.Output.Split('\n').Where(l => l.StartsWith("fail:") || l.StartsWith("crit:")).ToList();
        failures.ShouldBeEmpty(string.Join("\n", failures));
    }
}
