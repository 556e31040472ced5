using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace TenantEvents.Infrastructure.Webhooks;

/// <summary>
/// Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over "{id}.{timestamp}.{body}" with a
/// "whsec_"-prefixed base64 secret, sent as "v1,{base64}" in webhook-signature next to webhook-id and
/// webhook-timestamp. Used for provisioning webhooks coming in and, later, event webhooks going out.
/// </summary>
public sealed class StandardWebhooks
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";
    private const string SecretPrefix = "whsec_";

    private readonly byte[] _key;

    public StandardWebhooks(string secret)
    {
        var encoded = secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret;
        _key = Convert.FromBase64String(encoded);
        if (_key.Length < 24) throw new ArgumentException("A webhook secret must carry at least 24 random bytes.", nameof(secret));
    }

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public string Sign(string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp.ToString(CultureInfo.InvariantCulture)}.");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(_key, content));
    }

    /// <summary>Why a delivery was refused, or null when it is authentic and fresh.</summary>
    public string? Verify(string? id, string? timestamp, string? signatures, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signatures))
            return $"the {IdHeader}, {TimestampHeader} and {SignatureHeader} headers are required";
        if (id.Length > 200) return $"{IdHeader} is too long";
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            return $"{TimestampHeader} must be whole seconds since the Unix epoch";
        var sent = DateTimeOffset.FromUnixTimeSeconds(Math.Min(seconds, 253402300799));
        if (sent < now - tolerance) return "the delivery is too old (stale timestamp)";
        if (sent > now + tolerance) return "the delivery's timestamp is in the future";
        var expected = Encoding.ASCII.GetBytes(Sign(id, seconds, body));
        foreach (var candidate in signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(candidate), expected))
                return null;
        return "no signature matches";
    }
}
