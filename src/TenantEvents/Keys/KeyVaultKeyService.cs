using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Core;
using Azure.Core.Cryptography;
using Azure.Core.Pipeline;

namespace TenantEvents.Keys;

/// <summary>Options of the Key Vault client: Azure.Core's retry (429/5xx with Retry-After), diagnostics and transport.</summary>
public sealed class KeyVaultClientOptions : ClientOptions
{
    public const string ApiVersion = "7.4";
}

/// <summary>A refusal from the key service, with its HTTP status (401, 403, 429 after retries, ...).</summary>
public sealed class KeyServiceException(int status, string? code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string? Code { get; } = code;
}

/// <summary>
/// Tenants' KEKs in Azure Key Vault: one RSA key per tenant (tenant-{id}), new versions on rotation, wrapKey/unwrapKey
/// with RSA-OAEP-256 over the documented REST API (api-version 7.4) on Azure.Core's pipeline with a bearer token from an
/// Azure.Identity credential. Crypto-shredding deletes and purges the tenant's key. The Azure.Security.KeyVault.Keys
/// package is not available to us, so this is a deliberately small client of that contract.
/// </summary>
public sealed class KeyVaultKeyService : IKeyService, IKeyEncryptionKeyResolver
{
    public const string Algorithm = "RSA-OAEP-256";
    public const string Scope = "https://vault.azure.net/.default";
    private readonly Uri _vault;
    private readonly HttpPipeline _pipeline;

    public KeyVaultKeyService(Uri vault, TokenCredential credential, KeyVaultClientOptions? options = null)
    {
        if (vault.Scheme != Uri.UriSchemeHttps && !vault.IsLoopback)
            throw new ArgumentException("A Key Vault URL must be https.", nameof(vault));
        _vault = new Uri(vault.GetLeftPart(UriPartial.Authority) + "/");
        _pipeline = HttpPipelineBuilder.Build(options ?? new KeyVaultClientOptions(), new BearerTokenAuthenticationPolicy(credential, Scope));
    }

    public string Provider => "azure-key-vault";
    public string WrapAlgorithm => Algorithm;
    public IKeyEncryptionKeyResolver Resolver => this;

    public static string KeyName(Guid tenantId) => $"tenant-{tenantId:N}";

    public async Task<string> CreateKeyAsync(Guid tenantId, CancellationToken cancellation)
    {
        var body = new JsonObject { ["kty"] = "RSA", ["key_size"] = 3072, ["key_ops"] = new JsonArray("wrapKey", "unwrapKey") };
        var response = await SendAsync(RequestMethod.Post, new Uri(_vault, $"keys/{KeyName(tenantId)}/create"), body, cancellation);
        return response["key"]?["kid"]?.GetValue<string>() ?? throw new KeyServiceException(200, null, "Key Vault returned no key id.");
    }

    public async Task DestroyKeysAsync(Guid tenantId, CancellationToken cancellation)
    {
        var name = KeyName(tenantId);
        await SendAsync(RequestMethod.Delete, new Uri(_vault, $"keys/{name}"), null, cancellation, allowNotFound: true);
        // Soft-deleted keys could be recovered: purge so that the tenant's data is really gone.
        await SendAsync(RequestMethod.Delete, new Uri(_vault, $"deletedkeys/{name}"), null, cancellation, allowNotFound: true);
    }

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default)
    {
        // Only keys of the configured vault: a key id read from the database must never send wrapped keys elsewhere.
        if (!Uri.TryCreate(keyId, UriKind.Absolute, out var kid) || kid.GetLeftPart(UriPartial.Authority) + "/" != _vault.ToString()
            || !kid.AbsolutePath.StartsWith("/keys/tenant-", StringComparison.Ordinal))
            throw new KeyNotFoundException($"{keyId} is not a key of {_vault}.");
        return new VaultKey(this, kid);
    }

    public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Resolve(keyId, cancellationToken));

    private async Task<byte[]> OperateAsync(Uri kid, string operation, string algorithm, ReadOnlyMemory<byte> value, CancellationToken cancellation)
    {
        if (algorithm != Algorithm) throw new NotSupportedException($"Key Vault keys wrap with {Algorithm}, not {algorithm}.");
        var body = new JsonObject { ["alg"] = algorithm, ["value"] = Base64Url(value.Span) };
        var response = await SendAsync(RequestMethod.Post, new Uri(kid.ToString().TrimEnd('/') + "/" + operation), body, cancellation);
        return FromBase64Url(response["value"]?.GetValue<string>() ?? throw new KeyServiceException(200, null, "Key Vault returned no value."));
    }

    private async Task<JsonNode> SendAsync(RequestMethod method, Uri uri, JsonNode? body, CancellationToken cancellation, bool allowNotFound = false)
    {
        using var message = _pipeline.CreateMessage();
        var request = message.Request;
        request.Method = method;
        var builder = new RequestUriBuilder();
        builder.Reset(uri);
        builder.AppendQuery("api-version", KeyVaultClientOptions.ApiVersion);
        request.Uri = builder;
        request.Headers.Add("Accept", "application/json");
        if (body is not null)
        {
            request.Headers.Add("Content-Type", "application/json");
            request.Content = RequestContent.Create(BinaryData.FromString(body.ToJsonString()));
        }
        await _pipeline.SendAsync(message, cancellation);
        var response = message.Response;
        if (response.Status is >= 200 and < 300)
            return response.Content.ToMemory().Length == 0 ? new JsonObject() : JsonNode.Parse(response.Content.ToString()) ?? new JsonObject();
        if (allowNotFound && response.Status == 404) return new JsonObject();
        string? code = null, text = null;
        try
        {
            var error = JsonNode.Parse(response.Content.ToString())?["error"];
            code = error?["code"]?.GetValue<string>();
            text = error?["message"]?.GetValue<string>();
        }
        catch (JsonException) { }
        throw new KeyServiceException(response.Status, code, $"Key Vault answered {response.Status} {code}: {text ?? response.ReasonPhrase}");
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }

    private sealed class VaultKey(KeyVaultKeyService service, Uri kid) : IKeyEncryptionKey
    {
        public string KeyId => kid.ToString();

        public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
            WrapKeyAsync(algorithm, key, cancellationToken).GetAwaiter().GetResult();

        public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
            service.OperateAsync(kid, "wrapkey", algorithm, key, cancellationToken);

        public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
            UnwrapKeyAsync(algorithm, encryptedKey, cancellationToken).GetAwaiter().GetResult();

        public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
            service.OperateAsync(kid, "unwrapkey", algorithm, encryptedKey, cancellationToken);
    }
}
