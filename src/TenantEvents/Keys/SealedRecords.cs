using System.Text.Json;
using System.Text.Json.Serialization;
using TenantEvents.Infrastructure;

namespace TenantEvents.Keys;

/// <summary>Marks a stored event whose payload is sealed; <typeparamref name="T"/> names the event inside.</summary>
public interface ISealedEvent
{
    Type EventType { get; }
    SealedPayload Payload { get; }
}

/// <summary>
/// How a tenant's event sits in mt_events: the event type keeps its name (tenant_requested, ...), the data column holds
/// only the key version, nonce and ciphertext. Nothing of the event is readable without the tenant's key.
/// </summary>
public sealed record Sealed<T>(int KeyVersion, byte[] Nonce, byte[] Ciphertext) : ISealedEvent
{
    [JsonIgnore] public Type EventType => typeof(T);
    [JsonIgnore] public SealedPayload Payload => new(KeyVersion, Nonce, Ciphertext);
}

public static class SealedJson
{
    /// <summary>The plaintext form inside the seal: tolerant of fields added later, unlike the API's strict reader.</summary>
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = Json.Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip;
        return options;
    }
}
