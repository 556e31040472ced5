using System.Security.Cryptography;
using Azure.Core;
using Azure.Core.Pipeline;
using TenantEvents.Keys;

namespace TenantEvents.Tests.Keys;

public class KeyVaultKeyServiceTests : IAsyncLifetime
{
    private KeyVaultStandIn _vault = null!;

    public async Task InitializeAsync() => _vault = await KeyVaultStandIn.StartAsync();
    public async Task DisposeAsync() => await _vault.DisposeAsync();

    private sealed class StaticCredential(string token) : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new(token, DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    private KeyVaultKeyService Service(string token = "good-token")
    {
        var options = new KeyVaultClientOptions { Transport = new HttpClientTransport(_vault.Client) };
        options.Retry.Delay = TimeSpan.FromMilliseconds(1);
        options.Retry.MaxDelay = TimeSpan.FromMilliseconds(5);
        options.Retry.MaxRetries = 3;
        return new KeyVaultKeyService(new Uri(KeyVaultStandIn.VaultUrl), new StaticCredential(token), options);
    }

    [Fact]
    public async Task a_tenant_key_is_created_wraps_and_unwraps_a_data_key_and_rotates_to_a_new_version()
    {
        var keys = Service();
        var tenant = Guid.CreateVersion7();
        var kid = await keys.CreateKeyAsync(tenant, default);
        kid.ShouldBe($"{KeyVaultStandIn.VaultUrl}keys/tenant-{tenant:N}/v1");
        var dek = RandomNumberGenerator.GetBytes(32);
        var kek = await keys.ResolveAsync(kid);
        var wrapped = await kek.WrapKeyAsync(KeyVaultKeyService.Algorithm, dek);
        wrapped.Length.ShouldBe(384); // RSA-3072
        (await kek.UnwrapKeyAsync(KeyVaultKeyService.Algorithm, wrapped)).ShouldBe(dek);

        var rotated = await keys.CreateKeyAsync(tenant, default);
        rotated.ShouldEndWith("/v2");
        // The old version still unwraps what it wrapped; the new one cannot.
        (await (await keys.ResolveAsync(kid)).UnwrapKeyAsync(KeyVaultKeyService.Algorithm, wrapped)).ShouldBe(dek);
        await Should.ThrowAsync<KeyServiceException>(() => keys.Resolve(rotated).UnwrapKeyAsync(KeyVaultKeyService.Algorithm, wrapped));
    }

    [Fact]
    public async Task crypto_shredding_deletes_and_purges_the_tenants_key()
    {
        var keys = Service();
        var tenant = Guid.CreateVersion7();
        var kid = await keys.CreateKeyAsync(tenant, default);
        var wrapped = await keys.Resolve(kid).WrapKeyAsync(KeyVaultKeyService.Algorithm, new byte[32]);
        await keys.DestroyKeysAsync(tenant, default);
        _vault.Exists(KeyVaultKeyService.KeyName(tenant)).ShouldBeFalse();
        _vault.SoftDeleted.ShouldNotContain(KeyVaultKeyService.KeyName(tenant));
        (await Should.ThrowAsync<KeyServiceException>(() => keys.Resolve(kid).UnwrapKeyAsync(KeyVaultKeyService.Algorithm, wrapped)))
            .Status.ShouldBe(404);
        await keys.DestroyKeysAsync(tenant, default); // idempotent
    }

    [Fact]
    public async Task a_token_the_vault_does_not_accept_is_a_401()
    {
        var error = await Should.ThrowAsync<KeyServiceException>(() => Service("stale-token").CreateKeyAsync(Guid.CreateVersion7(), default));
        error.Status.ShouldBe(401);
        error.Code.ShouldBe("Unauthorized");
    }

    [Fact]
    public async Task a_key_the_identity_may_not_use_is_a_403()
    {
        var keys = Service();
        var tenant = Guid.CreateVersion7();
        var kid = await keys.CreateKeyAsync(tenant, default);
        _vault.ForbiddenKeys.Add(KeyVaultKeyService.KeyName(tenant));
        var error = await Should.ThrowAsync<KeyServiceException>(() => keys.Resolve(kid).WrapKeyAsync(KeyVaultKeyService.Algorithm, new byte[32]));
        error.Status.ShouldBe(403);
        error.Code.ShouldBe("Forbidden");
    }

    [Fact]
    public async Task throttling_is_retried_after_retry_after_and_reported_when_it_persists()
    {
        var keys = Service();
        _vault.ThrottleNext = 2;
        var before = _vault.Requests;
        await keys.CreateKeyAsync(Guid.CreateVersion7(), default);
        (_vault.Requests - before).ShouldBe(3);

        _vault.ThrottleNext = 100;
        (await Should.ThrowAsync<KeyServiceException>(() => keys.CreateKeyAsync(Guid.CreateVersion7(), default))).Status.ShouldBe(429);
    }

    [Fact]
    public void key_ids_of_other_vaults_or_other_keys_are_never_used()
    {
        var keys = Service();
        Should.Throw<KeyNotFoundException>(() => keys.Resolve("https://evil.vault.test/keys/tenant-x/v1"));
        Should.Throw<KeyNotFoundException>(() => keys.Resolve($"{KeyVaultStandIn.VaultUrl}keys/platform-root/v1"));
        Should.Throw<KeyNotFoundException>(() => keys.Resolve("local/tenants/x/kek-v1"));
        Should.Throw<ArgumentException>(() => new KeyVaultKeyService(new Uri("http://vault.example/"), new StaticCredential("t")));
    }
}
