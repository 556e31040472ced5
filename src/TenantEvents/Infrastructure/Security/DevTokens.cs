using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace TenantEvents.Infrastructure.Security;

/// <summary>
/// Development-only bearer tokens: an ECDSA P-256 key kept in the data folder (owner-only), used to sign tokens
/// for any role and tenant so the README's curl tour works without an identity provider. The service trusts this
/// key only when it runs in the Development environment (see <see cref="SecuritySetup"/>); elsewhere these tokens
/// are rejected like any other forgery.
/// </summary>
public static class DevTokens
{
    public const string Issuer = "urn:tenantevents:dev-token-issuer";
    public const string Audience = "tenantevents";
    private const string KeyFileName = "dev-token-signing-key.json";

    public static ECDsaSecurityKey LoadOrCreateKey(string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        var path = Path.Combine(dataFolder, KeyFileName);
        var ecdsa = ECDsa.Create();
        if (File.Exists(path))
        {
            var stored = JsonSerializer.Deserialize<StoredKey>(File.ReadAllText(path))
                         ?? throw new InvalidOperationException($"{path} is not a key file.");
            ecdsa.ImportECPrivateKey(Convert.FromBase64String(stored.PrivateKey), out _);
            return new ECDsaSecurityKey(ecdsa) { KeyId = stored.KeyId };
        }

        ecdsa.GenerateKey(ECCurve.NamedCurves.nistP256);
        var key = new StoredKey(Guid.CreateVersion7().ToString("N"), Convert.ToBase64String(ecdsa.ExportECPrivateKey()));
        // Written with owner-only permissions from the start: the key is never world-readable, even briefly.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
            JsonSerializer.Serialize(stream, key);
        return new ECDsaSecurityKey(ecdsa) { KeyId = key.KeyId };
    }

    public static string Issue(ECDsaSecurityKey key, string subject, IEnumerable<string> roles, Guid? tenantId,
        TimeSpan lifetime, DateTime nowUtc, IEnumerable<string>? groups = null)
    {
        var claims = new Dictionary<string, object>
        {
            [Claims.Subject] = subject,
            [Claims.Role] = roles.ToArray(),
        };
        if (groups?.ToArray() is { Length: > 0 } g) claims[Claims.Groups] = g;
        if (tenantId is { } t) claims[Claims.TenantId] = t.ToString();
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = claims,
            IssuedAt = nowUtc,
            NotBefore = nowUtc,
            Expires = nowUtc + lifetime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
        });
    }

    private sealed record StoredKey(string KeyId, string PrivateKey);
}
