using System.Text.Json.Nodes;
using TenantEvents.Ledger;

namespace TenantEvents.Tests.Audit;

/// <summary>RFC 6902 patches produced by the audit trail: they apply to the before state and give exactly the after state.</summary>
public class JsonPatchTests
{
    [Theory]
    [InlineData(null, """{"a":1}""", """[{"op":"add","path":"","value":{"a":1}}]""")]
    [InlineData("""{"a":1}""", null, """[{"op":"remove","path":""}]""")]
    [InlineData("""{"a":1,"b":2}""", """{"a":1,"b":3}""", """[{"op":"replace","path":"/b","value":3}]""")]
    [InlineData("""{"a":1}""", """{"a":1,"c/d":{"e~f":true}}""", """[{"op":"add","path":"/c~1d","value":{"e~f":true}}]""")]
    [InlineData("""{"grants":{"g1":{"role":"x"},"g2":{"role":"y"}}}""", """{"grants":{"g2":{"role":"y"}}}""", """[{"op":"remove","path":"/grants/g1"}]""")]
    [InlineData("""{"l":[1,2,3]}""", """{"l":[1,5]}""", """[{"op":"replace","path":"/l/1","value":5},{"op":"remove","path":"/l/2"}]""")]
    [InlineData("""{"l":[1]}""", """{"l":[1,2,3]}""", """[{"op":"add","path":"/l/-","value":2},{"op":"add","path":"/l/-","value":3}]""")]
    [InlineData("""{"a":{"b":1}}""", """{"a":"text"}""", """[{"op":"replace","path":"/a","value":"text"}]""")]
    public void diff_is_minimal_and_applies(string? before, string? after, string expected)
    {
        var b = before is null ? null : JsonNode.Parse(before);
        var a = after is null ? null : JsonNode.Parse(after);
        var patch = JsonPatch.Diff(b, a);
        patch.ToJsonString().ShouldBe(JsonNode.Parse(expected)!.ToJsonString());
        JsonNode.DeepEquals(JsonPatch.Apply(b, patch), a).ShouldBeTrue();
    }

    [Fact]
    public void random_documents_round_trip()
    {
        var random = new Random(7);
        JsonNode? Make(int depth) => random.Next(depth > 2 ? 3 : 6) switch
        {
            0 => JsonValue.Create(random.Next(5)),
            1 => JsonValue.Create("s" + random.Next(3)),
            2 => null,
            3 => new JsonArray(Enumerable.Range(0, random.Next(4)).Select(_ => Make(depth + 1)).ToArray()),
            _ => new JsonObject(Enumerable.Range(0, random.Next(4)).Select(i => KeyValuePair.Create("k" + random.Next(4) + i, Make(depth + 1)))
                .DistinctBy(p => p.Key)),
        };
        for (var i = 0; i < 500; i++)
        {
            var (b, a) = (Make(0), Make(0));
            JsonNode.DeepEquals(JsonPatch.Apply(b, JsonPatch.Diff(b, a)), a).ShouldBeTrue($"{b?.ToJsonString()} -> {a?.ToJsonString()}");
        }
    }

    [Fact]
    public void a_patch_that_does_not_apply_is_refused()
    {
        Should.Throw<FormatException>(() => JsonPatch.Apply(JsonNode.Parse("""{"a":1}"""), JsonNode.Parse("""[{"op":"replace","path":"/b","value":1}]""")!.AsArray()));
        Should.Throw<FormatException>(() => JsonPatch.Apply(JsonNode.Parse("""{"a":1}"""), JsonNode.Parse("""[{"op":"test","path":"/a","value":2}]""")!.AsArray()));
    }
}

/// <summary>The fast leaf encoding writes exactly the bytes of the reference one (which mirrors the SQL in the schema).</summary>
public class LeafEncodingTests
{
    [Fact]
    public void the_fast_encoding_equals_the_reference_for_every_shape_of_event()
    {
        var random = new Random(11);
        string? Maybe(string value) => random.Next(3) == 0 ? null : value;
        for (var i = 0; i < 300; i++)
        {
            var e = new LedgerEvent(random.NextInt64(1, long.MaxValue), Guid.NewGuid(), Guid.NewGuid(), random.Next(1, 100000),
                "tenant_renamed" + new string('é', random.Next(3)), "2026-11-28T09:00:00.123456Z", Maybe("corr-" + random.Next()), Maybe("cause"),
                Maybe("ünïcode user " + new string('x', random.Next(200))), Maybe("{\"a\": 1}"), "{\"Nonce\": \"" + new string('Q', random.Next(1, 2000)) + "\"}");
            var index = random.NextInt64(0, 10_000_000_000);
            var tenant = Guid.NewGuid();
            LedgerLeaf.Data(tenant, index, e).ShouldBe(LedgerLeaf.ReferenceData(tenant, index, e));
            byte[]? Utf8(string? v) => v is null ? null : System.Text.Encoding.UTF8.GetBytes(v);
            var buffer = new byte[16];
            LedgerLeaf.HashUtf8(tenant, index, e.Seq, e.Id, e.Stream, e.Version, Utf8(e.Type), Utf8(e.Time), Utf8(e.CorrelationId), Utf8(e.CausationId),
                Utf8(e.UserName), Utf8(e.Headers), Utf8(e.Data), ref buffer).ShouldBe(LedgerLeaf.Hash(tenant, index, e));
        }
    }
}
