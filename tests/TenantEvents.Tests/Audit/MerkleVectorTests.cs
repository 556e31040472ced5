using System.Text;
using System.Text.Json;
using TenantEvents.Ledger;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Audit;

/// <summary>
/// The Merkle code against the published vectors in ../shared/testdata/merkle (transparency-dev/merkle, unchanged):
/// every case that must verify verifies, every corrupted one is rejected. And the RFC 9162 section 2.1.5 example.
/// </summary>
public class MerkleVectorTests
{
    private static string Folder => Path.Combine(TestDatabase.RepositoryRoot(), "..", "shared", "testdata", "merkle");

    public static IEnumerable<object[]> Cases(string kind) =>
        Directory.EnumerateFiles(Path.Combine(Folder, kind), "*.json", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Select(f => new object[] { Path.GetRelativePath(Folder, f) });

    public static IEnumerable<object[]> Inclusion() => Cases("inclusion");
    public static IEnumerable<object[]> Consistency() => Cases("consistency");
    public static IEnumerable<object[]> SubtreeInclusion() => Cases("subtreeinclusion");
    public static IEnumerable<object[]> SubtreeConsistency() => Cases("subtreeconsistency");

    private static JsonElement Load(string file) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, file))).RootElement;

    private static byte[] Bytes(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? Convert.FromBase64String(v.GetString()!) : [];

    private static List<byte[]> Proof(JsonElement e) =>
        e.TryGetProperty("proof", out var p) && p.ValueKind == JsonValueKind.Array
            ? p.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? Convert.FromBase64String(x.GetString()!) : []).ToList()
            : [];

    private static ulong Long(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetUInt64() : 0;

    [Fact]
    public void the_vectors_are_there_in_number()
    {
        Inclusion().Count().ShouldBeGreaterThan(90);
        Consistency().Count().ShouldBeGreaterThan(90);
        SubtreeInclusion().Count().ShouldBeGreaterThan(180);
        SubtreeConsistency().Count().ShouldBeGreaterThan(100);
    }

    [Theory, MemberData(nameof(Inclusion))]
    public void inclusion(string file)
    {
        var c = Load(file);
        var ok = MerkleProof.VerifyInclusion(Long(c, "leafIdx"), Long(c, "treeSize"), Bytes(c, "leafHash"), Proof(c), Bytes(c, "root"));
        ok.ShouldBe(!c.GetProperty("wantErr").GetBoolean(), c.GetProperty("desc").GetString());
    }

    [Theory, MemberData(nameof(Consistency))]
    public void consistency(string file)
    {
        var c = Load(file);
        var ok = MerkleProof.VerifyConsistency(Long(c, "size1"), Long(c, "size2"), Proof(c), Bytes(c, "root1"), Bytes(c, "root2"));
        ok.ShouldBe(!c.GetProperty("wantErr").GetBoolean(), c.GetProperty("desc").GetString());
    }

    [Theory, MemberData(nameof(SubtreeInclusion))]
    public void subtree_inclusion(string file)
    {
        var c = Load(file);
        var ok = MerkleProof.VerifySubtreeInclusion(Long(c, "leafIdx"), Long(c, "start"), Long(c, "end"), Bytes(c, "leafHash"), Proof(c), Bytes(c, "root"));
        ok.ShouldBe(!c.GetProperty("wantErr").GetBoolean(), c.GetProperty("desc").GetString());
    }

    [Theory, MemberData(nameof(SubtreeConsistency))]
    public void subtree_consistency(string file)
    {
        var c = Load(file);
        var ok = MerkleProof.VerifySubtreeConsistency(Long(c, "start"), Long(c, "end"), Long(c, "size"), Proof(c), Bytes(c, "root1"), Bytes(c, "root2"));
        ok.ShouldBe(!c.GetProperty("wantErr").GetBoolean(), c.GetProperty("desc").GetString());
    }

    /// <summary>RFC 9162 section 2.1.5: seven leaves d0..d6; the labels are the RFC's.</summary>
    [Fact]
    public void the_rfc_9162_example()
    {
        var d = Enumerable.Range(0, 7).Select(i => Encoding.UTF8.GetBytes($"d{i}")).ToArray();
        var leaf = d.Select(x => MerkleHash.Leaf(x)).ToArray();
        byte[] a = leaf[0], b = leaf[1], c = leaf[2], dd = leaf[3], e = leaf[4], f = leaf[5], d6 = leaf[6];
        var g = MerkleHash.Children(a, b);
        var h = MerkleHash.Children(c, dd);
        var i = MerkleHash.Children(e, f);
        var j = d6;
        var k = MerkleHash.Children(g, h);
        var l = MerkleHash.Children(i, j);
        var root = MerkleHash.Children(k, l);

        var tree = new MerkleTree();
        foreach (var x in leaf) tree.Append(x);
        tree.Root(7).ShouldBe(root);
        tree.Root(0).ShouldBe(MerkleHash.EmptyRoot);
        tree.Root(3).ShouldBe(MerkleHash.Children(g, c));

        // Inclusion proofs of the example.
        tree.InclusionProof(0, 7).ShouldBe([b, h, l]);
        tree.InclusionProof(3, 7).ShouldBe([c, g, l]);
        tree.InclusionProof(4, 7).ShouldBe([f, j, k]);
        tree.InclusionProof(6, 7).ShouldBe([i, k]);
        // Consistency proofs of the example.
        tree.ConsistencyProof(3, 7).ShouldBe([c, dd, g, l]);
        tree.ConsistencyProof(4, 7).ShouldBe([l]);
        tree.ConsistencyProof(6, 7).ShouldBe([i, j, k]);

        MerkleProof.VerifyInclusion(0, 7, a, [b, h, l], root).ShouldBeTrue();
        MerkleProof.VerifyInclusion(0, 7, a, [b, l, h], root).ShouldBeFalse();
        MerkleProof.VerifyConsistency(3, 7, [c, dd, g, l], tree.Root(3), root).ShouldBeTrue();
        MerkleProof.VerifyConsistency(3, 7, [c, dd, g], tree.Root(3), root).ShouldBeFalse();
    }

    /// <summary>The tree's own proofs verify for every index and pair of sizes up to 70 leaves.</summary>
    [Fact]
    public void generated_proofs_verify_for_every_size()
    {
        var tree = new MerkleTree();
        for (var n = 0; n < 70; n++) tree.Append(MerkleHash.Leaf(BitConverter.GetBytes(n)));
        for (ulong size = 1; size <= 70; size++)
        {
            var root = tree.Root((long)size);
            for (ulong m = 0; m < size; m++)
                MerkleProof.VerifyInclusion(m, size, tree.LeafHash((long)m), tree.InclusionProof((long)m, (long)size), root).ShouldBeTrue($"{m} in {size}");
            for (ulong s1 = 1; s1 <= size; s1++)
                MerkleProof.VerifyConsistency(s1, size, tree.ConsistencyProof((long)s1, (long)size), tree.Root((long)s1), root).ShouldBeTrue($"{s1} -> {size}");
        }
    }
}
