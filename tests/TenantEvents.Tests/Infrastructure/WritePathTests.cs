using System.Text.RegularExpressions;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Infrastructure;

/// <summary>
/// The one write path, held by the source itself: a tenant's events are appended only by TenantTransaction.AppendAsync
/// (sealed, bound to their stream), a tenant's first event only by TenantStreams.StartAsync (its keys are made there), and
/// cross-tenant access trails only by CrossTenantAccess.AppendAsync (two tenants' trails in one transaction); and no
/// capability opens a tenant session of its own (TenantStreams.BeginAsync is the way in).
/// </summary>
public class WritePathTests
{
    private static readonly string Source = Path.Combine(TestDatabase.RepositoryRoot(), "src", "TenantEvents");

    private static IEnumerable<(string File, int Line, string Text)> Matches(Regex pattern) =>
        Directory.EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}Internal{Path.DirectorySeparatorChar}Generated") &&
                        !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .SelectMany(f => File.ReadAllLines(f).Select((text, i) => (File: Path.GetRelativePath(Source, f), Line: i + 1, Text: text)))
            .Where(l => pattern.IsMatch(l.Text));

    [Fact]
    public void events_are_appended_in_the_three_places_that_seal_them_and_nowhere_else()
    {
        var appends = Matches(new Regex(@"\.Events\.(Append|StartStream)\w*\(")).Select(m => m.File).Distinct().Order().ToList();
        appends.ShouldBe([Path.Combine("Audit", "CrossTenantAccess.cs"), Path.Combine("Tenants", "TenantStreams.cs"), Path.Combine("Tenants", "TenantTransaction.cs")]);
    }

    [Fact]
    public void no_capability_opens_a_writing_session_of_its_own()
    {
        // LightweightSession / OpenSession / IdentitySession on the store: only the edge (and the cross-tenant trails' one
        // transaction for two tenants) may; query sessions read, and are fine anywhere.
        var sessions = Matches(new Regex(@"\.(LightweightSession|IdentitySession|DirtyTrackedSession|OpenSession)\(")).Select(m => m.File).Distinct().Order().ToList();
        sessions.ShouldBe([Path.Combine("Audit", "CrossTenantAccess.cs"), Path.Combine("Tenants", "TenantStreams.cs")]);
    }
}
