using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// Per-request authentication overhead (issue 5), end to end over HTTP against the service process: the same anonymous
/// endpoint (/health/live) requested without a token (the baseline), with a federated user's RS256 token from a real
/// OpenID provider process (tests/idp), and with a platform service token (ES256 at+jwt, revocation check). Every
/// request authenticates its bearer token (the authentication middleware runs for every request), with warm key
/// caches. Rounds interleave the three modes; prints p50/p99 per mode and the overhead over the baseline.
/// </summary>
static class AuthBench
{
    public static async Task<int> Run(BenchOptions options, string connectionString, string owner, string platform)
    {
        await using (var reset = new NpgsqlConnection(owner))
        {
            await reset.OpenAsync();
            await using var command = new NpgsqlCommand("drop schema if exists tenantevents cascade;", reset);
            await command.ExecuteNonQueryAsync();
        }
        await TenantEvents.Infrastructure.DatabaseMigration.Run([]);
        // The service in this process (same code, static handlers), so its token validator can also be timed directly.
        var dataFolder = Service.SharedDataFolder;
        var url = "http://127.0.0.1:5098";
        await using var app = await InProcessService.StartAsync(url, connectionString, platform,
            new Dictionary<string, string> { ["TenantEvents:AllowInsecureIdentityProviders"] = "true" });
        var service = new { Url = url };
        var validator = app.Services.GetRequiredService<TenantEvents.Identity.TokenValidator>();
        var key = DevTokenKeyFile.Load(dataFolder);
        HttpClient Client(string? token)
        {
            var client = new HttpClient { BaseAddress = new Uri(service.Url) };
            if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return client;
        }
        string Dev(string role, Guid? tenant = null) => DevTokens.Issue(key, "bench-" + role, [role], tenant, TimeSpan.FromHours(2), DateTime.UtcNow);

        var tenant = Guid.Parse(await Provisioning.ProvisionOneId(Client(Dev(Roles.PlatformAdmin)), Client(Dev(Roles.PlatformApprover)), "auth-bench"));
        var admin = Client(Dev(Roles.TenantAdmin, tenant));

        // A real OpenID provider process for the tenant.
        var idp = Process.Start(new ProcessStartInfo("node", "server.mjs RS256")
        {
            WorkingDirectory = Path.Combine("tests", "idp"), RedirectStandardInput = true, RedirectStandardOutput = true,
        })!;
        try
        {
            var issuer = JsonDocument.Parse((await idp.StandardOutput.ReadLineAsync())!).RootElement.GetProperty("issuer").GetString()!;
            (await admin.PutAsJsonAsync($"/api/tenants/{tenant}/identity-provider", new { issuer, audience = "tenantevents-bench", adminGroups = new[] { "analysts" } })).EnsureSuccessStatusCode();
            var idpToken = await (await new HttpClient().PostAsJsonAsync(issuer + "/control/token",
                    new { claims = new { sub = "bench-user", aud = "tenantevents-bench", groups = new[] { "analysts" } } }))
                .Content.ReadFromJsonAsync<JsonElement>();
            var federated = idpToken.GetProperty("token").GetString()!;

            var account = await (await admin.PostAsJsonAsync($"/api/tenants/{tenant}/service-accounts", new { name = "bench", scopes = new[] { "org.read" } }))
                .Content.ReadFromJsonAsync<JsonElement>();
            var form = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials", ["client_id"] = account.GetProperty("clientId").GetString()!,
                ["client_secret"] = account.GetProperty("clientSecret").GetString()!,
            });
            var serviceToken = (await (await Client(null).PostAsync("/oauth2/token", form)).Content.ReadFromJsonAsync<JsonElement>())
                .GetProperty("access_token").GetString()!;

            // Both tokens must really authenticate: an endpoint that needs them answers 200.
            (await Client(federated).GetAsync($"/api/tenants/{tenant}")).StatusCode.ShouldBeOk("federated token");
            (await Client(serviceToken).GetAsync($"/api/tenants/{tenant}/organisations")).StatusCode.ShouldBeOk("service token");

            var modes = new (string Name, HttpClient Client)[]
            {
                ("no token (baseline)", Client(null)), ("federated RS256 (tenant IdP)", Client(federated)), ("service ES256 at+jwt", Client(serviceToken)),
            };
            const int requests = 4000;
            var results = modes.ToDictionary(m => m.Name, _ => new List<(double P50, double P99)>());
            foreach (var (_, client) in modes)
                for (var i = 0; i < 500; i++) await client.GetAsync("/health/live"); // warm-up: JIT, connections, key caches
            for (var round = 1; round <= options.Rounds; round++)
                foreach (var (name, client) in round % 2 == 1 ? modes : modes.Reverse())
                {
                    var latencies = new double[requests];
                    for (var i = 0; i < requests; i++)
                    {
                        var started = Stopwatch.GetTimestamp();
                        using var response = await client.GetAsync("/health/live");
                        latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }
                    Array.Sort(latencies);
                    var p50 = latencies[requests / 2];
                    var p99 = latencies[(int)(requests * 0.99)];
                    results[name].Add((p50, p99));
                    Console.WriteLine($"round {round} {name,-30}: p50 {p50 * 1000:F0} µs  p99 {p99 * 1000:F0} µs");
                }

            // In process: the validator alone (what every request pays), against the bare signature check of the same
            // token with the same key by the JWT library (the floor any validator pays).
            var jwks = JsonDocument.Parse(await new HttpClient().GetStringAsync(issuer + "/jwks")).RootElement.GetProperty("keys")[0].GetRawText();
            var rawParameters = new Microsoft.IdentityModel.Tokens.TokenValidationParameters
            {
                IssuerSigningKey = new Microsoft.IdentityModel.Tokens.JsonWebKey(jwks), ValidateIssuer = false, ValidateAudience = false,
                ValidateLifetime = false,
            };
            var library = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler();
            var direct = new (string Name, Func<Task<bool>> Check)[]
            {
                ("library signature check only", async () => (await library.ValidateTokenAsync(federated, rawParameters)).IsValid),
                ("TokenValidator, federated", async () => (await validator.ValidateAsync(federated, CancellationToken.None)).Principal is not null),
                ("TokenValidator, service", async () => (await validator.ValidateAsync(serviceToken, CancellationToken.None)).Principal is not null),
            };
            foreach (var (name, check) in direct)
                for (var i = 0; i < 2000; i++) if (!await check()) throw new InvalidOperationException($"{name}: not valid");
            var directResults = direct.ToDictionary(d => d.Name, _ => new List<(double P50, double P99)>());
            const int checks = 20_000;
            for (var round = 1; round <= options.Rounds; round++)
                foreach (var (name, check) in direct)
                {
                    var latencies = new double[checks];
                    for (var i = 0; i < checks; i++)
                    {
                        var started = Stopwatch.GetTimestamp();
                        await check();
                        latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }
                    Array.Sort(latencies);
                    directResults[name].Add((latencies[checks / 2], latencies[(int)(checks * 0.99)]));
                }

            var baseline = results[modes[0].Name];
            Console.WriteLine();
            Console.WriteLine($"== median of {options.Rounds} rounds, {requests} sequential requests per mode per round ({Environment.ProcessorCount} cores)");
            foreach (var (name, _) in modes)
            {
                var r = results[name];
                Console.WriteLine($"{name,-30}: p50 {Stats.Median(r.Select(x => x.P50)) * 1000:F0} µs, p99 {Stats.Median(r.Select(x => x.P99)) * 1000:F0} µs" +
                                  (r == baseline ? "" : $" | overhead over baseline: p50 {Stats.Median(r.Zip(baseline, (a, b) => a.P50 - b.P50)) * 1000:F0} µs, " +
                                                        $"p99 {Stats.Median(r.Zip(baseline, (a, b) => a.P99 - b.P99)) * 1000:F0} µs   (aim: p99 under 200 µs) | " +
                                                        $"ratio p50 {Stats.Median(r.Zip(baseline, (a, b) => a.P50 / b.P50)):F2}"));
            }
            Console.WriteLine();
            Console.WriteLine($"== in process, median of {options.Rounds} rounds of {checks} validations each");
            var floor = directResults[direct[0].Name];
            foreach (var (name, _) in direct)
            {
                var r = directResults[name];
                Console.WriteLine($"{name,-30}: p50 {Stats.Median(r.Select(x => x.P50)) * 1000:F1} µs, p99 {Stats.Median(r.Select(x => x.P99)) * 1000:F1} µs" +
                                  (r == floor ? "" : $"   (aim: p99 under 200 µs) | ratio to the library's bare check p50 {Stats.Median(r.Zip(floor, (a, b) => a.P50 / b.P50)):F2}"));
            }
            await app.StopAsync();
            return 0;
        }
        finally
        {
            idp.StandardInput.Close();
            if (!idp.WaitForExit(5000)) idp.Kill(true);
        }
    }

    private static void ShouldBeOk(this System.Net.HttpStatusCode status, string what)
    {
        if (status != System.Net.HttpStatusCode.OK) throw new InvalidOperationException($"The {what} was not accepted ({status}).");
    }
}
