using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using TenantEvents.Tenants.Residency;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tests.Tenants;

public class TenantRulesTests
{
    private static List<FieldError> Check(Action<List<FieldError>> rule)
    {
        var errors = new List<FieldError>();
        rule(errors);
        return errors;
    }

    [Fact]
    public void the_iso_3166_list_is_the_real_one()
    {
        Iso3166.Instance.CountryCount.ShouldBeGreaterThanOrEqualTo(249);
        Iso3166.Instance.SubdivisionCount.ShouldBeGreaterThan(5000);
        Iso3166.Instance.CountryName("NZ").ShouldBe("New Zealand");
    }

    [Theory]
    [InlineData("US", null)]
    [InlineData("US", "US-TX")]
    [InlineData("GB", "GB-SCT")]
    [InlineData("DE", "DE-BY")]
    [InlineData("AU", "AU-NSW")]
    public void real_countries_and_subdivisions_are_accepted(string country, string? subdivision) =>
        Check(e => TenantRules.Residency(new ResidencyZone(country, subdivision), null, e)).ShouldBeEmpty();

    [Theory]
    [InlineData("ZZ", null, "residency.country", "unknown-country")]
    [InlineData("us", null, "residency.country", "unknown-country")]
    [InlineData("USA", null, "residency.country", "unknown-country")]
    [InlineData("", null, "residency.country", "required")]
    [InlineData("US", "US-XX", "residency.subdivision", "unknown-subdivision")]
    [InlineData("US", "CA-ON", "residency.subdivision", "subdivision-outside-country")]
    [InlineData("US", "TX", "residency.subdivision", "unknown-subdivision")]
    public void made_up_codes_are_refused(string country, string? subdivision, string field, string code)
    {
        var error = Check(e => TenantRules.Residency(new ResidencyZone(country, subdivision), null, e)).ShouldHaveSingleItem();
        error.Field.ShouldBe(field);
        error.Code.ShouldBe(code);
    }

    [Fact]
    public void a_template_can_restrict_residency_and_demand_a_subdivision()
    {
        var rules = TemplateCatalog.LoadEmbedded().Find("law-enforcement")!.Residency;
        Check(e => TenantRules.Residency(new ResidencyZone("FR"), rules, e)).Select(x => x.Code)
            .ShouldBe(["residency-not-allowed", "required"], ignoreOrder: true);
        Check(e => TenantRules.Residency(new ResidencyZone("US", "US-CA"), rules, e)).ShouldBeEmpty();
    }

    [Theory]
    [InlineData("travis-sheriff", true)]
    [InlineData("abc", true)]
    [InlineData("ab", false)]
    [InlineData("Travis", false)]
    [InlineData("-travis", false)]
    [InlineData("travis-", false)]
    [InlineData("travis--sheriff", false)]
    [InlineData("travis_sheriff", false)]
    [InlineData("admin", false)]
    public void slugs(string slug, bool valid) => Check(e => TenantRules.Slug(slug, e)).Count.ShouldBe(valid ? 0 : 1);

    [Fact]
    public void slugs_longer_than_63_characters_are_refused()
    {
        Check(e => TenantRules.Slug(new string('a', 63), e)).ShouldBeEmpty();
        Check(e => TenantRules.Slug(new string('a', 64), e)).ShouldHaveSingleItem().Code.ShouldBe("invalid-slug");
    }

    [Theory]
    [InlineData("", "required")]
    [InlineData("   ", "required")]
    [InlineData("tab\there", "control-characters")]
    public void blank_or_odd_names_are_refused(string name, string code) =>
        Check(e => TenantRules.Name("name", name, e)).ShouldHaveSingleItem().Code.ShouldBe(code);

    [Fact]
    public void names_up_to_200_characters_are_accepted_and_longer_ones_refused()
    {
        Check(e => TenantRules.Name("name", new string('x', 200), e)).ShouldBeEmpty();
        Check(e => TenantRules.Name("name", new string('x', 201), e)).ShouldHaveSingleItem().Code.ShouldBe("too-long");
    }

    [Theory]
    [InlineData("sally@travis.example.gov", true)]
    [InlineData("nope", false)]
    [InlineData("a@b", false)]
    [InlineData("Sally <sally@travis.example.gov>", false)]
    public void emails(string email, bool valid) => Check(e => TenantRules.Email("email", email, e)).Count.ShouldBe(valid ? 0 : 1);

    [Theory]
    [InlineData(29, false)]
    [InlineData(30, true)]
    [InlineData(3650, true)]
    [InlineData(3651, false)]
    public void retention_is_30_to_3650_days(int days, bool valid)
    {
        var settings = TemplateCatalog.LoadEmbedded().Find("commercial-saas")!.DefaultSettings with { AuditRetentionDays = days };
        Check(e => TenantRules.Settings("", settings, e)).Count.ShouldBe(valid ? 0 : 1);
    }

    [Fact]
    public void every_template_is_valid_data()
    {
        var catalog = TemplateCatalog.LoadEmbedded();
        catalog.All.Select(t => t.Name).ShouldBe(["commercial-saas", "government-services", "intelligence", "law-enforcement"]);
        foreach (var template in catalog.All)
        {
            Check(e => TenantRules.Settings("", template.DefaultSettings, e)).ShouldBeEmpty(template.Name);
            template.Roles.ShouldNotBeEmpty();
            template.Units.ShouldNotBeEmpty();
            template.Version.ShouldBeGreaterThan(0);
        }
    }
}
