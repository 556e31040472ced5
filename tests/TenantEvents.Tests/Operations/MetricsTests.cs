using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Operations;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// Prometheus metrics as an operator scrapes them: a real service process listening on its public port and its management
/// port; the alert rules checked by promtool (Debian's prometheus package) and against what the scrape really holds.
/// </summary>
public class MetricsTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static string Rules => Path.Combine(TestDatabase.RepositoryRoot(), "ops", "helm", "tenantevents", "files");

    [Fact]
    public async Task metrics_answer_on_the_management_port_only_with_bounded_tenant_labels_and_every_metric_the_alerts_watch()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_metrics");
        var folder = Directory.CreateTempSubdirectory("tenantevents-metrics-").FullName;
        var (port, management) = (ServiceProcess.FreePort(), ServiceProcess.FreePort());
        await using var service = await ServiceProcess.StartAsync(db, folder, new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port};http://127.0.0.1:{management}",
            ["TenantEvents:ManagementPort"] = management.ToString(),
            ["TenantEvents:MetricsTenantLabels"] = "2",
            ["TenantEvents:MetricsRefreshInterval"] = "00:00:00.200",
        }, port);
        var clients = new ProcessClients(new Uri(service.Url), folder);
        HttpClient As(string role, Guid? tenant = null) => clients.As(role, tenant);
        using var monitor = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{management}") };

        // Three tenants, each of whose administrators calls the API: two keep their label, the third is "other".
        var tenants = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            var (id, _) = await clients.ActiveTenantAsync($"metrics-{(char)('a' + i)}");
            (await As(Roles.TenantAdmin, id).Get($"/api/tenants/{id}")).ShouldBe(HttpStatusCode.OK);
            tenants.Add(id);
        }
        // Another tenant is not found (its existence is not disclosed): counted as that caller's 4xx.
        (await As(Roles.TenantAdmin, tenants[2]).Get($"/api/tenants/{tenants[0]}")).Status.ShouldBe(HttpStatusCode.NotFound);

        // The gauges read from the database (ours, and Wolverine's message counts) are refreshed in the background: wait for
        // a reading that has them.
        var text = "";
        var deadline = Stopwatch.StartNew();
        bool Complete() => text.Contains("tenantevents_projection_lag_seconds{") && text.Contains("tenantevents_database_up{")
                           && text.Contains("wolverine_outbox_count_Messages");
        while (!Complete() && deadline.Elapsed < TimeSpan.FromSeconds(45))
        {
            text = await monitor.GetStringAsync("/metrics");
            if (!Complete()) await Task.Delay(200);
        }
        var series = Series(text);

        var labels = series.Where(s => s.Name == "tenantevents_tenant_requests_total").Select(s => Label(s.Labels, "tenant")).Distinct().Order().ToList();
        labels.ShouldBe(new string?[] { tenants[0].ToString(), tenants[1].ToString(), TenantLabels.Other }.Order().ToList());
        series.ShouldContain(s => s.Name == "tenantevents_tenant_requests_total" && Label(s.Labels, "tenant") == TenantLabels.Other && Label(s.Labels, "status_class") == "4xx");
        series.ShouldContain(s => s.Name == "tenantevents_key_service_duration_seconds_count" && Label(s.Labels, "operation") == "create");
        series.ShouldContain(s => s.Name == "tenantevents_database_up" && Label(s.Labels, "database") == TenantEvents.Infrastructure.Databases.TenantDirectory.DefaultDatabaseId && text.Contains("tenantevents_database_up{"));
        // No tenant id anywhere else: not in our metrics, not in Wolverine's (which tag messages with their tenant).
        foreach (var sample in series.Where(s => s.Name != "tenantevents_tenant_requests_total"))
            tenants.ShouldAllBe(t => !sample.Labels.Contains(t.ToString()), sample.Name);
        foreach (var projection in new[] { "analytics", "audit-ledger", "audit-entries", "event-fan-out" })
            series.ShouldContain(s => s.Name == "tenantevents_projection_consecutive_failures" && Label(s.Labels, "projection") == projection);

        // Every metric an alert watches is one the service exports (a renamed metric would leave its alert silent forever).
        var exported = series.Select(s => s.Name).ToHashSet();
        var watched = Regex.Matches(await File.ReadAllTextAsync(Path.Combine(Rules, "alerts.rules.yaml")), @"\b(tenantevents_[a-z_]+|http_server_[a-z_]+|wolverine_[A-Za-z_]+)\b")
            .Select(m => m.Value).Distinct().ToList();
        watched.Count.ShouldBeGreaterThan(8);
        foreach (var metric in watched) exported.ShouldContain(metric, $"{metric} (alerts.rules.yaml) is not in the scrape");

        // Nowhere else: the public port has no metrics, the management port has no API.
        var onPublic = await service.Client(null).GetAsync("/metrics");
        onPublic.StatusCode.ShouldNotBe(HttpStatusCode.OK);
        (await onPublic.Content.ReadAsStringAsync()).ShouldNotContain("tenantevents_");
        (await monitor.GetAsync("/api/tenants")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await monitor.GetAsync("/openapi/v1.json")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await monitor.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // A Host header naming the management port does not open /metrics on the public one.
        using var spoof = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/metrics");
        spoof.Headers.Host = $"127.0.0.1:{management}";
        using var plain = new HttpClient();
        (await plain.SendAsync(spoof)).StatusCode.ShouldNotBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task the_alert_rules_are_valid_and_each_fires_on_what_should_raise_it()
    {
        var check = await Promtool("check", "rules", "alerts.rules.yaml");
        check.ShouldContain("SUCCESS: 14 rules found");
        (await Promtool("test", "rules", "alerts.rules.test.yaml")).ShouldContain("SUCCESS");
    }

    private static async Task<string> Promtool(params string[] arguments)
    {
        var start = new ProcessStartInfo("promtool") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Rules };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("promtool is missing: make tools installs it");
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        process.ExitCode.ShouldBe(0, output);
        return output;
    }

    private sealed record Sample(string Name, string Labels);

    /// <summary>The samples of a Prometheus text exposition: name and label text.</summary>
    private static List<Sample> Series(string text) => text.Split('\n')
        .Where(l => l.Length > 0 && !l.StartsWith('#'))
        .Select(l => Regex.Match(l, @"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s"))
        .Where(m => m.Success)
        .Select(m => new Sample(m.Groups[1].Value, m.Groups[2].Value))
        .ToList();

    private static string? Label(string labels, string name) => Regex.Match(labels, $@"\b{name}=""([^""]*)""") is { Success: true } m ? m.Groups[1].Value : null;

}
