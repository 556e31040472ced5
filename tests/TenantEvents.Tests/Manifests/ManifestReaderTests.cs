using TenantEvents.Manifests;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Manifests;

/// <summary>Reading tenant manifests (issue 21's format): YAML or JSON, references resolved, every error placed.</summary>
public class ManifestReaderTests
{
    private static readonly string Example = Path.Combine(TestDatabase.RepositoryRoot(), "ops", "gitops", "travis-sheriff.tenant.yaml");

    private static (TenantManifest? Manifest, IReadOnlyList<ManifestError> Errors) Read(string text, string file = "tenant.yaml",
        Dictionary<string, string>? env = null, Dictionary<string, string>? files = null) =>
        ManifestReader.Read(file, text, name => env?.GetValueOrDefault(name), name => files?.GetValueOrDefault(name));

    private const string Minimal = """
        apiVersion: tenantevents.io/v1
        kind: Tenant
        metadata: {name: hays-sheriff}
        spec:
          name: Hays County Sheriff
          template: law-enforcement
          residency: {country: US, subdivision: US-TX}
        """;

    [Fact]
    public void the_published_example_reads_with_its_references_resolved()
    {
        var (manifest, errors) = Read(File.ReadAllText(Example), Example,
            env: new() { ["TRAVIS_IDP_ISSUER"] = "https://login.travis.example.gov", ["TRAVIS_HOOKS_URL"] = "https://hooks.travis.example.gov/events" });
        errors.ShouldBeEmpty();
        manifest!.Metadata!.Name.ShouldBe("travis-sheriff");
        manifest.Spec!.Organisations!.Select(o => o.Path).ShouldBe(
            ["/Travis County Sheriff", "/Travis County Sheriff/Patrol", "/Travis County Sheriff/Patrol/North District", "/Travis County Sheriff/Investigations"]);
        manifest.Spec.IdentityProvider!.Issuer.ShouldBe("https://login.travis.example.gov");
        manifest.Spec.Webhooks![0].Url.ShouldBe("https://hooks.travis.example.gov/events");
        manifest.Spec.Settings!.AuditRetentionDays.ShouldBe(2555);
        manifest.Spec.Organisations![2].Members.ShouldBe(["deputy-ortiz"]);
        manifest.Spec.Management!["grants"].ShouldBe("full");
    }

    [Fact]
    public void a_file_reference_is_the_files_content_without_its_final_newline()
    {
        var (manifest, errors) = Read(Minimal + "\n  webhooks:\n    - {url: '${file:hooks/url}', types: [com.tenantevents.organisation_created]}\n",
            files: new() { ["hooks/url"] = "https://hooks.example.gov/in\n" });
        errors.ShouldBeEmpty();
        manifest!.Spec!.Webhooks![0].Url.ShouldBe("https://hooks.example.gov/in");
    }

    [Theory]
    [InlineData("a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n", "alias")]
    [InlineData("? [a]\n: b\n", "not plain text")]
    [InlineData("apiVersion: x\napiVersion: y\n", "apiVersion")]
    [InlineData("a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "deeper")]
    [InlineData("x: &a just-one-word\ny: [*a, *a, *a]\n", "alias")]
    [InlineData("{\"apiVersion\": \"x\", \"apiVersion\": \"y\"}", "")]
    public void a_document_built_to_hurt_is_refused_not_expanded(string text, string says)
    {
        var (manifest, errors) = Read(text, text.StartsWith('{') ? "tenant.json" : "tenant.yaml");
        manifest.ShouldBeNull();
        errors.ShouldHaveSingleItem().Code.ShouldBe("unreadable");
        errors[0].Detail.ShouldContain(says);
    }

    [Fact]
    public void nesting_a_hundred_thousand_deep_is_refused_before_anything_is_built()
    {
        var (manifest, errors) = Read("a: " + new string('[', 100_000));
        manifest.ShouldBeNull();
        errors.ShouldHaveSingleItem().Detail.ShouldContain("deeper");
        (manifest, errors) = Read("{\"a\": " + new string('[', 100_000), "tenant.json");
        manifest.ShouldBeNull();
        errors.ShouldHaveSingleItem().Code.ShouldBe("unreadable");
        // Many nodes, flat: counted from the parser's events, never built.
        (manifest, errors) = Read(string.Concat(Enumerable.Repeat("- a\n", 1_000_001)));
        errors.ShouldHaveSingleItem().Detail.ShouldContain("must be a mapping");
        (manifest, errors) = Read("a:\n" + string.Concat(Enumerable.Repeat("  - a\n", 1_000_001)));
        errors.ShouldHaveSingleItem().Detail.ShouldContain("1,000,000 nodes");
        (manifest, errors) = Read("{\"a\": [" + string.Join(",", Enumerable.Repeat("1", 1_000_001)) + "]}", "tenant.json");
        errors.ShouldHaveSingleItem().Detail.ShouldContain("1,000,000 nodes");
    }

    [Fact]
    public void a_guardrail_without_a_value_and_a_share_without_units_are_errors()
    {
        var (_, errors) = Read(Minimal + """

              organisations:
                - path: /Hays County Sheriff
                  policies: {feature.x: }
                  quotas: {apiCallsPerDay: {cap: 5}}
            """);
        errors.Select(e => (e.Path, e.Code)).ShouldBe([("$.spec.organisations[0].policies.feature.x", "required"),
            ("$.spec.organisations[0].quotas.apiCallsPerDay", "required")]);
    }

    [Fact]
    public void an_empty_list_item_a_misnamed_kind_to_manage_and_a_path_in_another_spelling_are_errors()
    {
        var (_, errors) = Read(Minimal + """

              organisations:
                - {path: /Hays County Sheriff}
                -
                - {path: "/Hays County Sheriff/ Patrol"}
                - {path: "/Hays County Sheriff/A~2B"}
              management: {members: full}
              domains:
                - {domain: a.example.gov, subdomain: a}
            """);
        errors.Select(e => (e.Path, e.Code)).ShouldBe([("$.spec.organisations[1]", "required")]);
        (_, errors) = Read(Minimal + """

              organisations:
                - {path: /Hays County Sheriff}
                - {path: "/Hays County Sheriff/ Patrol"}
                - {path: "/Hays County Sheriff/A~2B"}
              management: {members: full}
              domains:
                - {domain: a.example.gov, subdomain: a}
            """);
        errors.Select(e => (e.Path, e.Code)).ShouldBe([("$.spec.organisations[1].path", "invalid-path"), ("$.spec.organisations[2].path", "invalid-path"),
            ("$.spec.management.members", "unknown-kind"), ("$.spec.domains[0]", "invalid")]);
    }

    [Fact]
    public void json_reads_as_yaml_does()
    {
        var (manifest, errors) = Read("""
            {"apiVersion": "tenantevents.io/v1", "kind": "Tenant", "metadata": {"name": "hays-sheriff"},
             "spec": {"name": "Hays County Sheriff", "template": "law-enforcement", "residency": {"country": "US"}}}
            """, "tenant.json");
        errors.ShouldBeEmpty();
        manifest!.Spec!.Name.ShouldBe("Hays County Sheriff");
    }

    [Fact]
    public void an_unset_reference_is_named_with_its_file_line_and_path()
    {
        var (manifest, errors) = Read(Minimal + "\n  identityProvider: {issuer: '${env:MISSING}', audience: tenantevents}\n");
        manifest.ShouldBeNull();
        var error = errors.ShouldHaveSingleItem();
        error.Code.ShouldBe("unresolved-reference");
        error.Path.ShouldBe("$.spec.identityProvider.issuer");
        error.Line.ShouldBe(8);
        error.ToString().ShouldStartWith("tenant.yaml:8: $.spec.identityProvider.issuer:");
        error.Detail.ShouldContain("MISSING");
    }

    [Fact]
    public void a_misspelt_field_is_an_error_not_ignored()
    {
        var (manifest, errors) = Read(Minimal + "\n  organisations:\n    - {pth: /Hays County Sheriff}\n");
        manifest.ShouldBeNull();
        var error = errors.ShouldHaveSingleItem();
        error.Path.ShouldStartWith("$.spec.organisations[0]");
        error.Detail.ShouldContain("pth");
        error.Line.ShouldBe(9);
    }

    [Fact]
    public void a_secret_written_in_the_file_is_refused()
    {
        var (_, errors) = Read(Minimal + "\n  webhooks:\n    - {url: 'https://hooks.example.gov', secret: whsec_plaintext}\n");
        var error = errors.ShouldHaveSingleItem();
        error.Code.ShouldBe("secret-in-file");
        error.Path.ShouldBe("$.spec.webhooks[0].secret");
    }

    [Fact]
    public void the_tree_is_named_by_paths_whose_parents_come_first_and_grants_name_its_organisations()
    {
        var (_, errors) = Read(Minimal + """

              organisations:
                - {path: /Hays County Sheriff}
                - {path: /Hays County Sheriff/Patrol/North}
                - {path: /Elsewhere}
                - {path: Patrol}
                - {path: /Hays County Sheriff}
              grants:
                - {organisation: /Hays County Sheriff/Nowhere, principal: {kind: robot, id: r2}, role: clerk}
              management: {organisations: everything}
            """);
        errors.Select(e => (e.Path, e.Code)).ShouldBe([
            ("$.spec.organisations[1].path", "unknown-parent"),
            ("$.spec.organisations[2].path", "second-root"),
            ("$.spec.organisations[3].path", "invalid-path"),
            ("$.spec.organisations[4].path", "duplicate"),
            ("$.spec.grants[0].organisation", "unknown-organisation"),
            ("$.spec.grants[0].principal.kind", "invalid"),
            ("$.spec.management.organisations", "invalid"),
        ]);
        errors.ShouldAllBe(e => e.File == "tenant.yaml" && e.Line != null);
    }

    [Theory]
    [InlineData("apiVersion: tenantevents.io/v2\nkind: Tenant\nmetadata: {name: hays-sheriff}\nspec: {name: H, template: t, residency: {country: US}}", "$.apiVersion")]
    [InlineData("apiVersion: tenantevents.io/v1\nkind: Organisation\nmetadata: {name: hays-sheriff}\nspec: {name: H, template: t, residency: {country: US}}", "$.kind")]
    [InlineData("apiVersion: tenantevents.io/v1\nkind: Tenant\nmetadata: {name: Hays Sheriff}\nspec: {name: H, template: t, residency: {country: US}}", "$.metadata.name")]
    [InlineData("apiVersion: tenantevents.io/v1\nkind: Tenant\nmetadata: {name: hays-sheriff}", "$.spec")]
    [InlineData("apiVersion: [unclosed", "$")]
    [InlineData("- just\n- a list", "$")]
    public void what_is_not_a_tenant_manifest_is_refused_with_the_place(string text, string path) =>
        Read(text).Errors.ShouldContain(e => e.Path == path);

    [Fact]
    public void the_published_json_schema_is_the_models()
    {
        var published = File.ReadAllText(Path.Combine(TestDatabase.RepositoryRoot(), "schemas", "tenant-manifest.schema.json"));
        published.ShouldBe(ManifestSchema.Text(), "schemas/tenant-manifest.schema.json is stale: make manifest-schema");
        ManifestSchema.Document()["properties"]!["spec"].ShouldNotBeNull();
    }

    /// <summary>An independent validator (JsonSchema.Net, draft 2020-12) agrees with the reader on what a manifest is.</summary>
    [Fact]
    public void an_independent_validator_accepts_the_example_under_the_published_schema_and_refuses_what_the_reader_refuses()
    {
        var schema = Json.Schema.JsonSchema.FromText(File.ReadAllText(Path.Combine(TestDatabase.RepositoryRoot(), "schemas", "tenant-manifest.schema.json")));
        var (manifest, errors) = Read(File.ReadAllText(Example), Example,
            env: new() { ["TRAVIS_IDP_ISSUER"] = "https://login.travis.example.gov", ["TRAVIS_HOOKS_URL"] = "https://hooks.travis.example.gov/events" });
        errors.ShouldBeEmpty();
        bool Valid(string json) => schema.Evaluate(System.Text.Json.JsonDocument.Parse(json).RootElement).IsValid;
        Valid(System.Text.Json.JsonSerializer.Serialize(manifest, ManifestReader.WriteOptions)).ShouldBeTrue();
        Valid("""{"apiVersion": "tenantevents.io/v1", "kind": "Tenant", "metadata": {"name": "hays-sheriff"}, "spec": {"name": "Hays", "template": "law-enforcement"}}""")
            .ShouldBeFalse(); // no residency
        Valid("""{"apiVersion": "tenantevents.io/v2", "kind": "Tenant", "metadata": {"name": "h"}, "spec": {"name": "H", "template": "t", "residency": {"country": "US"}}}""")
            .ShouldBeFalse();
        Valid("""{"apiVersion": "tenantevents.io/v1", "kind": "Tenant", "metadata": {"name": "h"}, "spec": {"name": "H", "template": "t", "residency": {"country": "US"}, "colour": "blue"}}""")
            .ShouldBeFalse();
    }
}
