using System.Text;
using TenantEvents.Infrastructure.Webhooks;

namespace TenantEvents.Tests.Infrastructure;

public class StandardWebhooksTests
{
    // The example of the Standard Webhooks specification (https://github.com/standard-webhooks/standard-webhooks,
    // spec/standard-webhooks.md, "Signature scheme").
    private const string SpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string SpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long SpecTimestamp = 1614265330;
    private const string SpecBody = "{\"test\": 2432232314}";
    private const string SpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    private static readonly DateTimeOffset SpecTime = DateTimeOffset.FromUnixTimeSeconds(SpecTimestamp);
    private static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);
    private readonly StandardWebhooks _webhooks = new(SpecSecret);

    [Fact]
    public void signs_the_specification_example_exactly() =>
        _webhooks.Sign(SpecId, SpecTimestamp, Encoding.UTF8.GetBytes(SpecBody)).ShouldBe(SpecSignature);

    [Fact]
    public void verifies_the_specification_example_among_several_signatures() =>
        _webhooks.Verify(SpecId, SpecTimestamp.ToString(), "v1,bm9wZQ== " + SpecSignature, Encoding.UTF8.GetBytes(SpecBody), SpecTime, Tolerance)
            .ShouldBeNull();

    [Theory]
    [InlineData(SpecId + "x", SpecTimestamp, SpecBody, "no signature matches")]
    [InlineData(SpecId, SpecTimestamp, "{\"test\": 2432232315}", "no signature matches")]
    [InlineData(SpecId, SpecTimestamp - 301, SpecBody, "stale")]
    [InlineData(SpecId, SpecTimestamp + 301, SpecBody, "future")]
    public void tampered_or_stale_deliveries_are_refused(string id, long timestamp, string body, string reason)
    {
        var signature = timestamp == SpecTimestamp ? SpecSignature : _webhooks.Sign(id, timestamp, Encoding.UTF8.GetBytes(body));
        _webhooks.Verify(id, timestamp.ToString(), signature, Encoding.UTF8.GetBytes(body), SpecTime, Tolerance).ShouldNotBeNull().ShouldContain(reason);
    }

    [Fact]
    public void missing_headers_and_malformed_timestamps_are_refused()
    {
        var body = Encoding.UTF8.GetBytes(SpecBody);
        _webhooks.Verify(null, "1", SpecSignature, body, SpecTime, Tolerance).ShouldNotBeNull();
        _webhooks.Verify(SpecId, "soon", SpecSignature, body, SpecTime, Tolerance).ShouldNotBeNull();
        _webhooks.Verify(SpecId, "-5", SpecSignature, body, SpecTime, Tolerance).ShouldNotBeNull();
        _webhooks.Verify(SpecId, SpecTimestamp.ToString(), "v1,", body, SpecTime, Tolerance).ShouldNotBeNull();
    }
}
