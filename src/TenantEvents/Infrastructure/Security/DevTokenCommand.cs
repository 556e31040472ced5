namespace TenantEvents.Infrastructure.Security;

/// <summary>
/// `TenantEvents dev-token --role platform-admin [--role ...] [--tenant UUID] [--sub alice] [--groups a,b] [--minutes 60]`:
/// prints a bearer token signed with the development key. Refuses outside the Development environment.
/// </summary>
public static class DevTokenCommand
{
    public static int Run(string[] args)
    {
        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT")
                          ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? "Production";
        if (!string.Equals(environment, "Development", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"dev-token works only in the Development environment (this is {environment}).");
            return 2;
        }

        var roles = new List<string>();
        var groups = new List<string>();
        string? subject = null;
        Guid? tenant = null;
        var minutes = 60;
        var dataFolder = Environment.GetEnvironmentVariable("TenantEvents__DataFolder") ?? Path.Combine(Directory.GetCurrentDirectory(), ".data");
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--role": roles.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); break;
                case "--sub": subject = Next(); break;
                case "--groups": groups.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); break;
                case "--tenant":
                    var t = Next();
                    if (t.Length > 0) tenant = Guid.TryParse(t, out var g) ? g : throw new ArgumentException($"--tenant {t} is not a UUID.");
                    break;
                case "--minutes": minutes = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--data": dataFolder = Next(); break;
                default:
                    Console.Error.WriteLine($"Unknown argument {args[i]}. Usage: dev-token --role ROLE[,ROLE] [--tenant UUID] [--sub NAME] [--groups G[,G]] [--minutes N]");
                    return 2;
            }
        }
        var unknown = roles.Where(r => !Roles.All.Contains(r)).ToList();
        if (roles.Count == 0 || unknown.Count > 0)
        {
            Console.Error.WriteLine($"Name at least one role of: {string.Join(", ", Roles.All)}" + (unknown.Count > 0 ? $" (not roles: {string.Join(", ", unknown)})" : ""));
            return 2;
        }
        if ((roles.Contains(Roles.TenantAdmin) || roles.Contains(Roles.TenantMember)) && tenant is null)
        {
            Console.Error.WriteLine("A tenant-admin or tenant-member token needs --tenant UUID.");
            return 2;
        }

        var key = DevTokenKeyFile.Load(Path.GetFullPath(dataFolder));
        Console.WriteLine(DevTokens.Issue(key, subject ?? roles[0] + "-dev", roles, tenant, TimeSpan.FromMinutes(minutes), DateTime.UtcNow, groups));
        return 0;
    }
}
