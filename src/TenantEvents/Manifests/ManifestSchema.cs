using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization;

namespace TenantEvents.Manifests;

/// <summary>
/// The published JSON Schema of a manifest (schemas/tenant-manifest.schema.json; editors validate with it), made from
/// the model itself so that the two cannot drift: ManifestSchemaTests compares the file with this.
/// </summary>
public static class ManifestSchema
{
    public static JsonNode Document()
    {
        var options = new JsonSerializerOptions(ManifestReader.SerializerOptions);
        var schema = options.GetJsonSchemaAsNode(typeof(TenantManifest), new JsonSchemaExporterOptions { TreatNullObliviousAsNonNullable = false });
        var document = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = "https://tenantevents.io/schemas/tenant-manifest.schema.json",
            ["title"] = "TenantEvents tenant manifest (" + TenantManifest.Version + ", kind " + TenantManifest.TenantKind + ")",
        };
        foreach (var (name, value) in schema.AsObject().ToList()) document[name] = value?.DeepClone();
        return document;
    }

    public static string Text() => Document().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
}
