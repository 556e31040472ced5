using System.Security.Cryptography;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Organisations;

namespace TenantEvents.Identity;

/// <summary>
/// A service account as stored (mt_doc_serviceaccountrecord, under row-level security): clear fields for listing,
/// the secret's hash only sealed under the tenant's key (bound to the account's stream).
/// </summary>
public sealed class ServiceAccountRecord
{
    public const string SecretType = "service-account-secret";

    public Guid Id { get; set; }
    public string Name { get; set; } = "";
    public List<string> Scopes { get; set; } = [];
    public bool Enabled { get; set; } = true;
    public SealedPayload? SecretHash { get; set; }
    public long Version { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? SecretRotatedAt { get; set; }
    public string CreatedBy { get; set; } = "";

    public ServiceAccountView View() => new(Id, Id.ToString(), Name, Scopes, Enabled ? "enabled" : "disabled", Version, CreatedAt, UpdatedAt,
        SecretRotatedAt, CreatedBy);
}

/// <summary>A service account as the API shows it (never its secret, which is shown once, at creation or rotation).</summary>
public sealed record ServiceAccountView(Guid Id, string ClientId, string Name, IReadOnlyList<string> Scopes, string State, long Version,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? SecretRotatedAt, string CreatedBy);

/// <summary>The answer to creation or rotation: the account and its secret, shown this once.</summary>
/// <param name="ScimToken">For an account holding scim.provision: the bearer credential to configure in the directory (SCIM).</param>
public sealed record ServiceAccountWithSecret(ServiceAccountView Account, string ClientId, string ClientSecret, string TokenEndpoint,
    string? ScimToken = null);

public static class ServiceAccountRules
{
    private const string SecretPrefix = "tes_";

    /// <summary>A new secret: 256 random bits, prefixed so secret scanners can recognise a leaked one.</summary>
    public static string NewSecret() => SecretPrefix + Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string secret) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret));

    /// <summary>Scopes are permissions of the organisation engine (Organisations/Permissions.cs), each named once.</summary>
    public static void Scopes(List<FieldError> errors, IReadOnlyList<string>? scopes)
    {
        if (scopes is null || scopes.Count == 0)
        {
            errors.Add(new FieldError("scopes", "required", $"name at least one scope of: {string.Join(", ", Permissions.All.Keys)}."));
            return;
        }
        foreach (var scope in scopes.Where(s => !Permissions.IsKnown(s ?? "")))
            errors.Add(new FieldError("scopes", "unknown-scope", $"'{scope}' is not a scope; known: {string.Join(", ", Permissions.All.Keys)}."));
        if (scopes.Distinct(StringComparer.Ordinal).Count() != scopes.Count)
            errors.Add(new FieldError("scopes", "duplicate", "names a scope twice."));
    }

    public static void Name(List<FieldError> errors, string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) errors.Add(new FieldError("name", "required", "is required."));
        else if (name.Trim().Length > 100) errors.Add(new FieldError("name", "too-long", "must be at most 100 characters."));
        else if (name.Any(char.IsControl)) errors.Add(new FieldError("name", "invalid-characters", "must not contain control characters."));
    }

    /// <summary>
    /// What an account's scopes confer: each a permission across the whole tenant (a service account holds its scopes
    /// everywhere), so judged at the root by the grantor's bound.
    /// </summary>
    public static Conferral Conferral(Guid root, IEnumerable<string> scopes) => new(scopes.ToList(), root, What: "service account scopes");

    /// <summary>Whether the new scopes drop any the account held: its tokens issued before then carry more than it now has.</summary>
    public static bool Narrows(IEnumerable<string> before, IEnumerable<string> after) =>
        Permissions.Effective(before).Except(Permissions.Effective(after)).Any();

    public static ServiceAccountRecord Apply(ServiceAccountRecord? record, object e, SealedPayload? sealedHash)
    {
        switch (e)
        {
            case ServiceAccountCreated x:
                return new ServiceAccountRecord
                {
                    Id = x.AccountId, Name = x.Name, Scopes = [.. x.Scopes], SecretHash = sealedHash, Version = 1, CreatedAt = x.At, UpdatedAt = x.At,
                    CreatedBy = x.By.ToString(),
                };
        }
        ArgumentNullException.ThrowIfNull(record);
        switch (e)
        {
            case ServiceAccountSecretRotated x: record.SecretHash = sealedHash; record.SecretRotatedAt = x.At; record.UpdatedAt = x.At; break;
            case ServiceAccountScopesChanged x: record.Scopes = [.. x.Scopes]; record.UpdatedAt = x.At; break;
            case ServiceAccountDisabled x: record.Enabled = false; record.UpdatedAt = x.At; break;
            case ServiceAccountEnabled x: record.Enabled = true; record.UpdatedAt = x.At; break;
            default: throw new ArgumentException($"{e.GetType().Name} is not a service account event.");
        }
        record.Version++;
        return record;
    }
}
