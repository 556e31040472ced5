using Azure.Core.Cryptography;

namespace TenantEvents.Keys;

/// <summary>
/// Where tenants' key-encryption keys (KEKs) live. Data-encryption keys are wrapped by a tenant's KEK through
/// Azure.Core's <see cref="IKeyEncryptionKey"/>; destroying a tenant's KEKs crypto-shreds everything sealed for it.
/// Two providers: <see cref="LocalKeyService"/> (the embedded default) and <see cref="KeyVaultKeyService"/>.
/// </summary>
public interface IKeyService
{
    string Provider { get; }

    /// <summary>The wrap algorithm this provider's KEKs use (A256KWP locally, RSA-OAEP-256 in Key Vault).</summary>
    string WrapAlgorithm { get; }

    IKeyEncryptionKeyResolver Resolver { get; }

    /// <summary>A new KEK version for the tenant (the first, or a rotation); returns its key id.</summary>
    Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation);

    /// <summary>Destroys every KEK version of the tenant. Irreversible.</summary>
    Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation);
}
