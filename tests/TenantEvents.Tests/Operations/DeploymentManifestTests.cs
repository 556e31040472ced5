using System.Diagnostics;
using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure;
using TenantEvents.Operations;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// The Helm chart (ops/helm/tenantevents) and the compose file (ops/compose), as an operator would install them: Helm
/// lints and renders the chart, every rendered object is checked against the Kubernetes API's schemas with unknown fields
/// refused (ops/helm/validate), and then against what this service needs: the probes it answers, the settings it reads,
/// the credentials each process may hold.
/// </summary>
public class DeploymentManifestTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static string Root => TestDatabase.RepositoryRoot();
    private static string Chart => Path.Combine(Root, "ops", "helm", "tenantevents");
    private static string Tools => Path.Combine(Root, "ops", "helm", "validate");

    private static async Task<(int Exit, string Output, string Error)> Run(string file, IEnumerable<string> arguments, string? input = null)
    {
        var (exit, output, error) = await Processes.RunAsync(file, arguments, Tools, input);
        return (exit, output, error);
    }

    private static async Task<string> Helm(params string[] arguments)
    {
        var helm = Path.Combine(Tools, "bin", "helm");
        File.Exists(helm).ShouldBeTrue("helm is missing: `make k8s-tools` (make test does it)");
        var (exit, output, error) = await Run(helm, arguments);
        exit.ShouldBe(0, $"helm {string.Join(' ', arguments)}: {error}");
        return output;
    }

    /// <summary>Validated Kubernetes objects: exits non-zero (and the test fails with the violations) on any schema error or unknown field.</summary>
    private static async Task<List<JsonElement>> Validate(string manifests)
    {
        var (exit, output, error) = await Run("node", ["validate.mjs"], manifests);
        exit.ShouldBe(0, error);
        return JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
    }

    private static async Task<List<JsonElement>> Render(params string[] settings) =>
        await Validate(await Helm(["template", "tenantevents", Chart, "--namespace", "agencies", .. settings.SelectMany(s => new[] { "--set", s })]));

    private static JsonElement One(List<JsonElement> objects, string kind) => objects.Single(o => o.GetProperty("kind").GetString() == kind);

    private static JsonElement Named(List<JsonElement> objects, string kind, string name) =>
        objects.Single(o => o.GetProperty("kind").GetString() == kind && o.GetProperty("metadata").GetProperty("name").GetString() == name);

    private static JsonElement Container(JsonElement workload) =>
        workload.GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers").EnumerateArray().Single();

    [Fact]
    public async Task the_chart_lints_and_every_object_it_renders_is_valid_kubernetes_under_every_switch()
    {
        var lint = await Helm("lint", Chart, "--strict");
        lint.ShouldContain("0 chart(s) failed");
        var defaults = await Render();
        defaults.Select(o => o.GetProperty("kind").GetString()).Order().ShouldBe(
            ["Deployment", "HorizontalPodAutoscaler", "Job", "NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget", "Service", "Service", "ServiceAccount", "ServiceAccount"]);
        // Each switch renders valid objects too.
        One(await Render("autoscaling.enabled=false"), "Deployment").GetProperty("spec").GetProperty("replicas").GetInt32().ShouldBe(3);
        (await Render("networkPolicy.enabled=false")).ShouldNotContain(o => o.GetProperty("kind").GetString() == "NetworkPolicy");
        // Behind an ingress: the proxies to trust, and more environment (e.g. for workload identity), rendered as settings.
        var proxied = Container(One(await Render("trustedProxies={10.0.0.0/8}", "extraEnv[0].name=AZURE_TENANT_ID", "extraEnv[0].value=t"), "Deployment"))
            .GetProperty("env").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("value").GetString());
        proxied["TenantEvents__TrustedProxies__0"].ShouldBe("10.0.0.0/8");
        proxied["AZURE_TENANT_ID"].ShouldBe("t");
        (await Render("migrations.enabled=false")).ShouldNotContain(o => o.GetProperty("kind").GetString() == "Job");
        var ingress = One(await Render("ingress.enabled=true", "ingress.hosts={events.example.gov,agency.example.org}"), "Ingress");
        ingress.GetProperty("spec").GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("host").GetString()).ShouldBe(["events.example.gov", "agency.example.org"]);
        // With the Prometheus operator: a ServiceMonitor on the metrics Service, and the alert rules file as it is.
        var monitored = await Render("metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true");
        One(monitored, "ServiceMonitor").GetProperty("spec").GetProperty("endpoints")[0].GetProperty("port").GetString().ShouldBe("metrics");
        var rules = One(monitored, "PrometheusRule").GetProperty("spec").GetProperty("groups")[0].GetProperty("rules").EnumerateArray().ToList();
        rules.Select(r => r.GetProperty("alert").GetString()).ShouldBe(AlertNames());
        rules.Single(r => r.GetProperty("alert").GetString() == "TenantEventsProjectionLagging").GetProperty("annotations").GetProperty("summary").GetString()
            .ShouldBe("Projection {{ $labels.projection }} is {{ $value | humanizeDuration }} behind"); // Prometheus' template, not Helm's
        var shared = One(await Render("dataVolume.existingClaim=tenantevents-keys"), "Deployment").GetProperty("spec").GetProperty("template").GetProperty("spec")
            .GetProperty("volumes").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "data");
        shared.GetProperty("persistentVolumeClaim").GetProperty("claimName").GetString().ShouldBe("tenantevents-keys");
    }

    /// <summary>The alerts of ops/helm/tenantevents/files/alerts.rules.yaml, in order.</summary>
    private static List<string> AlertNames() => File.ReadAllLines(Path.Combine(Chart, "files", "alerts.rules.yaml"))
        .Select(l => l.Trim()).Where(l => l.StartsWith("- alert: ")).Select(l => l["- alert: ".Length..]).ToList();

    [Fact]
    public async Task the_validator_refuses_what_the_api_server_would()
    {
        // A wrong type, an unknown field (deep in a probe), an unknown kind: each named, and the run fails.
        const string broken = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: typed}
            spec: {replicas: "three", selector: {}, template: {}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: misspelt}
            spec: {ports: [{port: 80, targetPrt: 8080}]}
            ---
            apiVersion: apps/v1
            kind: Deploymnet
            metadata: {name: unknown}
            """;
        var (exit, _, error) = await Run("node", ["validate.mjs"], broken);
        exit.ShouldBe(1);
        error.ShouldContain("Deployment/typed: data/spec/replicas must be integer");
        error.ShouldContain("Deploymnet/unknown: unknown apiVersion/kind");
        // Unknown fields are checked once the schemas pass.
        (exit, _, error) = await Run("node", ["validate.mjs"], broken.Split("---")[1]);
        exit.ShouldBe(1);
        error.ShouldContain("'\"targetPrt\"' does not exist in type 'IServicePort'");
    }

    [Theory]
    [InlineData("replicaCount=0", "/replicaCount")]
    [InlineData("publicUrl=ftp://events.example.gov", "/publicUrl")]
    [InlineData("config.RabbitMqUri=amqp://user:secret@broker", "invalid propertyName 'RabbitMqUri'")] // a secret in plain configuration
    [InlineData("secrets.owner=", "/secrets/owner")]
    [InlineData("replicas=3", "additional properties 'replicas' not allowed")] // a typo is not silently ignored
    [InlineData("config.KeyProvider=local", "give dataVolume.existingClaim")] // each instance would make its own keys
    [InlineData("extraEnv[0].name=ConnectionStrings__TenantEvents", "/extraEnv/0/name")] // secrets are files, not variables
    public async Task values_the_chart_cannot_honour_are_refused_before_anything_renders(string setting, string named)
    {
        var helm = Path.Combine(Tools, "bin", "helm");
        var (exit, _, error) = await Run(helm, ["template", "tenantevents", Chart, "--set", setting]);
        exit.ShouldNotBe(0);
        error.ShouldContain(named);
    }

    [Fact]
    public async Task the_instances_run_as_this_service_needs_and_no_more()
    {
        var objects = await Render();
        var deployment = One(objects, "Deployment");
        var pod = deployment.GetProperty("spec").GetProperty("template").GetProperty("spec");
        var container = Container(deployment);
        var version = Release.Version;

        // The chart follows the release.
        (await File.ReadAllTextAsync(Path.Combine(Chart, "Chart.yaml"))).ShouldContain($"appVersion: \"{version}\"");
        container.GetProperty("image").GetString().ShouldBe($"registry.example.gov/tenantevents:{version}");
        container.GetProperty("args").EnumerateArray().Select(a => a.GetString()).ShouldBe(["serve"]);

        // At least three instances, never fewer than two through a voluntary disruption, scaled on CPU from three.
        var hpa = One(objects, "HorizontalPodAutoscaler").GetProperty("spec");
        hpa.GetProperty("minReplicas").GetInt32().ShouldBeGreaterThanOrEqualTo(3);
        hpa.GetProperty("scaleTargetRef").GetProperty("name").GetString().ShouldBe(deployment.GetProperty("metadata").GetProperty("name").GetString());
        var pdb = One(objects, "PodDisruptionBudget").GetProperty("spec");
        pdb.GetProperty("minAvailable").GetInt32().ShouldBe(2);
        var selector = deployment.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels").ToString();
        pdb.GetProperty("selector").GetProperty("matchLabels").ToString().ShouldBe(selector);
        var services = objects.Where(o => o.GetProperty("kind").GetString() == "Service").ToList();
        services.ShouldAllBe(service => service.GetProperty("spec").GetProperty("selector").ToString() == selector);
        services.Select(service => service.GetProperty("spec").GetProperty("ports")[0].GetProperty("targetPort").GetString()).ShouldBe(["http", "metrics"]);
        deployment.GetProperty("spec").GetProperty("strategy").GetProperty("rollingUpdate").GetProperty("maxUnavailable").GetInt32().ShouldBe(0);

        // The probes ask what this service answers, anonymously.
        foreach (var (probe, path) in new[] { ("startupProbe", "/health/started"), ("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready") })
        {
            container.GetProperty(probe).GetProperty("httpGet").GetProperty("path").GetString().ShouldBe(path);
            (await Fixture.Client().Get(path)).ShouldBe(HttpStatusCode.OK);
        }

        // Non-root, read-only root filesystem, no capabilities, no escalation, no Kubernetes API token.
        var security = container.GetProperty("securityContext");
        security.GetProperty("runAsNonRoot").GetBoolean().ShouldBeTrue();
        security.GetProperty("runAsUser").GetInt32().ShouldBe(10001);
        security.GetProperty("readOnlyRootFilesystem").GetBoolean().ShouldBeTrue();
        security.GetProperty("allowPrivilegeEscalation").GetBoolean().ShouldBeFalse();
        security.GetProperty("capabilities").GetProperty("drop").EnumerateArray().Select(c => c.GetString()).ShouldBe(["ALL"]);
        pod.GetProperty("automountServiceAccountToken").GetBoolean().ShouldBeFalse();
        container.GetProperty("resources").GetProperty("requests").TryGetProperty("cpu", out _).ShouldBeTrue();
        container.GetProperty("resources").GetProperty("limits").TryGetProperty("memory", out _).ShouldBeTrue();

        // Every setting the chart passes is one the service reads (a misspelt name would be ignored without a word).
        var settings = typeof(TenantEventsOptions).GetProperties().Select(p => p.Name).ToHashSet();
        var env = container.GetProperty("env").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("value").GetString()!);
        foreach (var name in env.Keys.Where(n => n != "ASPNETCORE_URLS").Select(n => System.Text.RegularExpressions.Regex.Replace(n, "__[0-9]+$", "")))
        {
            name.ShouldStartWith("TenantEvents__");
            settings.ShouldContain(name["TenantEvents__".Length..]);
        }
        // Metrics on a port of their own, which the service listens on, a Service of its own exposes and only monitoring may reach.
        env["ASPNETCORE_URLS"].ShouldBe("http://+:8080;http://+:9090");
        env["TenantEvents__ManagementPort"].ShouldBe("9090");
        container.GetProperty("ports").EnumerateArray().Select(p => (p.GetProperty("name").GetString(), p.GetProperty("containerPort").GetInt32()))
            .ShouldBe([("http", 8080), ("metrics", 9090)]);

        // Secrets only as files; the schema owner's credential only in the migration job, which runs before install and upgrade.
        container.GetProperty("env").EnumerateArray().Count(e => e.TryGetProperty("valueFrom", out _)).ShouldBe(0);
        var json = deployment.ToString();
        json.ShouldNotContain("tenantevents-owner");
        var job = One(objects, "Job");
        job.GetProperty("metadata").GetProperty("annotations").GetProperty("helm.sh/hook").GetString().ShouldBe("pre-install,pre-upgrade");
        Container(job).GetProperty("args").EnumerateArray().Select(a => a.GetString()).ShouldBe(["migrate"]);
        Container(job).GetProperty("securityContext").GetProperty("readOnlyRootFilesystem").GetBoolean().ShouldBeTrue();
        job.ToString().ShouldContain("tenantevents-owner");

        // Traffic in only from the ingress controller; out only to the cluster's DNS, the databases and HTTPS.
        var policy = Named(objects, "NetworkPolicy", "tenantevents").GetProperty("spec");
        policy.GetProperty("egress")[0].GetProperty("to")[0].GetProperty("podSelector").GetProperty("matchLabels").GetProperty("k8s-app").GetString().ShouldBe("kube-dns");
        // The migration job (it holds the owner's credential): nothing in, only DNS and PostgreSQL out.
        var migrate = Named(objects, "NetworkPolicy", "tenantevents-migrate").GetProperty("spec");
        migrate.GetProperty("ingress").GetArrayLength().ShouldBe(0);
        migrate.GetProperty("egress").EnumerateArray().SelectMany(r => r.GetProperty("ports").EnumerateArray()).Select(p => p.GetProperty("port").GetInt32())
            .Distinct().Order().ShouldBe([53, 5432]);
        migrate.GetProperty("podSelector").GetProperty("matchLabels").GetProperty("app.kubernetes.io/name").GetString()
            .ShouldBe(job.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels").GetProperty("app.kubernetes.io/name").GetString());
        policy.GetProperty("ingress").EnumerateArray().Select(r => r.GetProperty("ports")[0].GetProperty("port").GetString()).ShouldBe(["http", "metrics"]);
        policy.GetProperty("policyTypes").EnumerateArray().Select(t => t.GetString()).ShouldBe(["Ingress", "Egress"]);
        policy.GetProperty("egress").EnumerateArray().SelectMany(r => r.GetProperty("ports").EnumerateArray()).Select(p => p.GetProperty("port").GetInt32())
            .Distinct().Order().ShouldBe([53, 443, 5432, 5671, 5672]);
    }

    [Fact]
    public async Task the_compose_file_follows_the_compose_specification_and_keeps_the_owner_credential_with_migrate()
    {
        var (exit, output, error) = await Run("node", ["validate-compose.mjs", Path.Combine(Root, "ops", "compose", "compose.yaml")]);
        exit.ShouldBe(0, error);
        var services = JsonDocument.Parse(output).RootElement.GetProperty("services");
        var serve = services.GetProperty("tenantevents");
        serve.GetProperty("read_only").GetBoolean().ShouldBeTrue();
        serve.GetProperty("user").GetString().ShouldBe("10001:10001");
        serve.GetProperty("image").GetString().ShouldBe($"localhost/tenantevents:{Release.Version}");
        serve.GetProperty("secrets").EnumerateArray().Select(s => s.GetProperty("source").GetString()).ShouldBe(["app", "platform"]);
        services.GetProperty("migrate").GetProperty("secrets").EnumerateArray().Select(s => s.GetProperty("source").GetString()).ShouldContain("owner");
        serve.GetProperty("depends_on").GetProperty("migrate").GetProperty("condition").GetString().ShouldBe("service_completed_successfully");
    }
}
