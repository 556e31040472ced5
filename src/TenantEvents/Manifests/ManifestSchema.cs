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
        var schema = options.GetJsonSchemaAsNode(typeof(TenantManifest), new JsonSchemaExporterOptions
        {
            TreatNullObliviousAsNonNullable = false,
            // What the rules require (ManifestRules), said to editors too: the model is nullable so that the rules can name
            // what is missing, but a field an editor knows is required is underlined as it is typed.
            TransformSchemaNode = (context, node) =>
            {
                if (node is JsonObject obj && obj.ContainsKey("properties") && Required.TryGetValue(context.TypeInfo.Type, out var fields))
                    obj["required"] = new JsonArray(fields.Select(f => (JsonNode)JsonValue.Create(f)).ToArray());
                if (context.PropertyInfo is { Name: "apiVersion" } && context.PropertyInfo.DeclaringType == typeof(TenantManifest) && node is JsonObject version)
                    version["const"] = TenantManifest.Version;
                if (context.PropertyInfo is { Name: "kind" } && context.PropertyInfo.DeclaringType == typeof(TenantManifest) && node is JsonObject kind)
                    kind["const"] = TenantManifest.TenantKind;
                return node;
            },
        });
        var document = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = "https://tenantevents.io/schemas/tenant-manifest.schema.json",
            ["title"] = "TenantEvents tenant manifest (" + TenantManifest.Version + ", kind " + TenantManifest.TenantKind + ")",
        };
        foreach (var (name, value) in schema.AsObject().ToList()) document[name] = value?.DeepClone();
        return document;
    }

    private static readonly Dictionary<Type, string[]> Required = new()
    {
        [typeof(TenantManifest)] = ["apiVersion", "kind", "metadata", "spec"],
        [typeof(ManifestMetadata)] = ["name"],
        [typeof(TenantSpec)] = ["name", "template", "residency"],
        [typeof(ManifestResidency)] = ["country"],
        [typeof(ManifestContact)] = ["name", "email"],
        [typeof(ManifestOrganisation)] = ["path"],
        [typeof(ManifestRole)] = ["name", "permissions"],
        [typeof(ManifestGrant)] = ["organisation", "principal", "role"],
        [typeof(ManifestPrincipal)] = ["kind", "id"],
        [typeof(ManifestServiceAccount)] = ["name", "scopes"],
        [typeof(ManifestIdentityProvider)] = ["issuer"],
        [typeof(ManifestGroupMapping)] = ["group", "organisation"],
        [typeof(ManifestWebhook)] = ["url", "types"],
        [typeof(ManifestDomain)] = [], // one of domain or subdomain (ManifestRules)
        [typeof(ManifestPolicy)] = ["value"],
        [typeof(ManifestAllocation)] = ["guaranteed"],
        [typeof(TenantEvents.Tenants.SettingsOverrides)] = [], // what is left out keeps its value
        [typeof(TenantEvents.Tenants.QuotaOverrides)] = [],
    };

    public static string Text() => Document().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
}
