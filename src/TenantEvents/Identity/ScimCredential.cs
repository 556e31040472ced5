namespace TenantEvents.Identity;

/// <summary>
/// The long-lived bearer credential a directory is configured with for SCIM: "tescim." + the service account's client id
/// (32 hex digits) + "." + its secret. Valid while the account is enabled, holds scim.provision and keeps that secret.
/// </summary>
public static class ScimCredential
{
    public const string Prefix = "tescim.";
    public const string Scope = "scim.provision";

    public static string For(Guid client, string secret) => $"{Prefix}{client:N}.{secret}";

    public static (Guid Client, string Secret)? Parse(string token)
    {
        var rest = token.AsSpan(Prefix.Length);
        var dot = rest.IndexOf('.');
        if (dot != 32 || !Guid.TryParseExact(rest[..dot], "N", out var client) || rest.Length - dot - 1 is < 10 or > 200) return null;
        return (client, rest[(dot + 1)..].ToString());
    }

    /// <summary>The revocation entry of an account's SCIM credentials (apart from its access tokens'): a UUID v8 derived from the client id.</summary>
    public static Guid RevocationId(Guid client) => Infrastructure.StableIds.From(client, "scim-credential");
}
