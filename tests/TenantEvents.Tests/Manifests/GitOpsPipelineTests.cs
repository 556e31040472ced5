using System.Diagnostics;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Manifests;

/// <summary>
/// The example pipeline's script (ops/gitops/tenants-ci.sh, which ops/gitops/github-actions.yml runs) against a real service
/// process, with the service's own command line as its CLI: a pull request's plan (exit 2, the plan kept), a merge's
/// apply, and the next run's plan finding nothing to do.
/// </summary>
public class GitOpsPipelineTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<(int Exit, string Output)> Pipeline(string folder, IDictionary<string, string> env, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(TestDatabase.RepositoryRoot(), "ops", "gitops", "tenants-ci.sh"))
        {
            WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (key, value) in env) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        return (process.ExitCode, await output + await errors);
    }

    [Fact]
    public async Task a_pull_request_plans_a_merge_applies_and_the_next_run_finds_nothing_to_do()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_gitops");
        var data = Directory.CreateTempSubdirectory("tenantevents-gitops-").FullName;
        var repository = Directory.CreateTempSubdirectory("tenants-repo-").FullName;
        try
        {
            await using var service = await ServiceProcess.StartAsync(db, data);
            var (tenant, _) = await new ProcessClients(new Uri(service.Url), data).ActiveTenantAsync("travis-sheriff");
            Directory.CreateDirectory(Path.Combine(repository, "tenants"));
            await File.WriteAllTextAsync(Path.Combine(repository, "tenants", "travis-sheriff.yaml"), """
                apiVersion: tenantevents.io/v1
                kind: Tenant
                metadata: {name: travis-sheriff}
                spec:
                  name: Travis County Sheriff
                  template: law-enforcement
                  residency: {country: US, subdivision: US-TX}
                  organisations:
                    - {path: /Travis County Sheriff, kind: agency}
                    - {path: /Travis County Sheriff/Lake Patrol, kind: unit}
                  serviceAccounts:
                    - name: ${env:SYNC_ACCOUNT}
                      scopes: [org.read]
                """);
            var env = new Dictionary<string, string>
            {
                ["TENANTEVENTS"] = $"dotnet {ServiceProcess.Dll()}",
                ["TENANTEVENTS_URL"] = service.Url,
                ["TENANTEVENTS_TOKEN"] = ServiceProcess.Token(data, Roles.TenantAdmin, "ci-job", tenant),
                ["SYNC_ACCOUNT"] = "records-sync",
            };

            var planned = await Pipeline(repository, env, "tenants");
            planned.Exit.ShouldBe(2, planned.Output);
            planned.Output.ShouldContain("+ create organisation /Travis County Sheriff/Lake Patrol");
            File.Exists(Path.Combine(repository, "plans", "travis-sheriff.plan.json")).ShouldBeTrue();

            var applied = await Pipeline(repository, env, "--apply", "tenants");
            applied.Exit.ShouldBe(0, applied.Output);
            applied.Output.ShouldContain("done + create serviceAccount records-sync");
            // The secret the service made went to a file only the job's user reads, not to the log.
            var secrets = Path.Combine(repository, "plans", "travis-sheriff.secrets.jsonl");
            (await File.ReadAllTextAsync(secrets)).ShouldContain("clientSecret");
            applied.Output.ShouldNotContain("clientSecret");
            if (OperatingSystem.IsLinux()) File.GetUnixFileMode(secrets).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);

            var again = await Pipeline(repository, env, "tenants");
            again.Exit.ShouldBe(0, again.Output);
            again.Output.ShouldContain("No changes");
        }
        finally
        {
            Directory.Delete(repository, recursive: true);
            Directory.Delete(data, recursive: true);
        }
    }
}
