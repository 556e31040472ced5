using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace TenantEvents.Ledger;

/// <summary>A checkpoint (c2sp.org/tlog-checkpoint): the log's origin, its size and its root at that size.</summary>
public sealed record Checkpoint(string Origin, long Size, byte[] Root)
{
    /// <summary>The note text that is signed: origin, decimal size, base64 root, each ending in a newline.</summary>
    public string Body => $"{Origin}\n{Size}\n{Convert.ToBase64String(Root)}\n";

    /// <summary>Reads a checkpoint body (extension lines after the root are allowed and ignored); null if it is not one.</summary>
    public static Checkpoint? Parse(string body)
    {
        if (!body.EndsWith('\n')) return null;
        var lines = body[..^1].Split('\n');
        if (lines.Length < 3 || lines[0].Length == 0) return null;
        if (lines[1].Length == 0 || lines[1].Length > 20 || lines[1].Any(c => c is < '0' or > '9') || (lines[1].Length > 1 && lines[1][0] == '0')) return null;
        if (!long.TryParse(lines[1], out var size)) return null;
        byte[] root;
        try { root = Convert.FromBase64String(lines[2]); } catch (FormatException) { return null; }
        return root.Length == MerkleHash.Size ? new Checkpoint(lines[0], size, root) : null;
    }
}

/// <summary>
/// A note signer/verifier key (c2sp.org/signed-note) of signature type 0x02: ECDSA over P-256 with SHA-256, the
/// signature ASN.1 DER encoded, the key id the first four bytes of SHA-256(name || 0x0A || 0x02 || SPKI DER public key).
/// Written as a verifier key string: name+hex(key id)+base64(0x02 || SPKI DER).
/// </summary>
public sealed class NoteKey
{
    public const byte EcdsaType = 0x02;

    public string Name { get; }
    public uint Id { get; }
    public byte[] PublicKey { get; }
    private readonly ECDsa _ecdsa;

    private NoteKey(string name, byte[] spki, ECDsa ecdsa)
    {
        Name = name;
        PublicKey = spki;
        _ecdsa = ecdsa;
        Id = KeyId(name, spki);
    }

    public static uint KeyId(string name, byte[] spki)
    {
        var material = new byte[Encoding.UTF8.GetByteCount(name) + 2 + spki.Length];
        var n = Encoding.UTF8.GetBytes(name, material);
        material[n] = 0x0A;
        material[n + 1] = EcdsaType;
        spki.CopyTo(material, n + 2);
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(material));
    }

    public static bool IsValidName(string name) =>
        name.Length > 0 && !name.Any(c => char.IsWhiteSpace(c) || c == '+' || char.IsControl(c));

    /// <summary>A signing key from an ECDSA P-256 key with its private part.</summary>
    public static NoteKey ForSigning(string name, ECDsa ecdsa)
    {
        if (!IsValidName(name)) throw new ArgumentException("A key name has no spaces and no '+'.", nameof(name));
        return new NoteKey(name, ecdsa.ExportSubjectPublicKeyInfo(), ecdsa);
    }

    /// <summary>Parses a verifier key string (name+id+key); throws <see cref="FormatException"/> if it is not one of ours.</summary>
    public static NoteKey ParseVerifier(string vkey)
    {
        var parts = vkey.Trim().Split('+', 3);
        if (parts.Length != 3 || !IsValidName(parts[0]) || parts[1].Length != 8)
            throw new FormatException("A verifier key reads name+keyid+base64key.");
        byte[] raw;
        try { raw = Convert.FromBase64String(parts[2]); } catch (FormatException) { throw new FormatException("The key part is not base64."); }
        if (raw.Length < 2 || raw[0] != EcdsaType) throw new FormatException("Only ECDSA (signature type 0x02) verifier keys are supported.");
        var spki = raw[1..];
        var ecdsa = ECDsa.Create();
        try { ecdsa.ImportSubjectPublicKeyInfo(spki, out _); }
        catch (CryptographicException) { throw new FormatException("The key is not an ECDSA public key."); }
        if (ecdsa.KeySize != 256) throw new FormatException("The key is not on P-256.");
        var key = new NoteKey(parts[0], spki, ecdsa);
        if (!uint.TryParse(parts[1], System.Globalization.NumberStyles.HexNumber, null, out var id) || id != key.Id)
            throw new FormatException("The key id does not match the key.");
        return key;
    }

    public string VerifierKey => VerifierKeyOf(Name, PublicKey);

    /// <summary>The verifier key string of a named ECDSA P-256 public key (SPKI DER).</summary>
    public static string VerifierKeyOf(string name, byte[] spki) => $"{name}+{KeyId(name, spki):x8}+{Convert.ToBase64String([EcdsaType, .. spki])}";

    /// <summary>The signed note: the text, a blank line, and this key's signature line.</summary>
    public string Sign(string text)
    {
        var signature = _ecdsa.SignData(Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var blob = new byte[4 + signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, Id);
        signature.CopyTo(blob, 4);
        return $"{text}\n\u2014 {Name} {Convert.ToBase64String(blob)}\n";
    }

    /// <summary>
    /// The text of a signed note if this key's signature on it verifies, else null. Signatures by other keys are ignored
    /// (as the specification requires); a note without a valid signature from this key is rejected.
    /// </summary>
    public string? Open(string note)
    {
        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0 || !note.EndsWith('\n')) return null;
        var text = note[..(split + 1)];
        if (text.Any(c => c < 0x20 && c != '\n')) return null;
        var verified = false;
        foreach (var line in note[(split + 2)..^1].Split('\n'))
        {
            if (!line.StartsWith("\u2014 ", StringComparison.Ordinal)) return null;
            var fields = line[2..].Split(' ');
            if (fields.Length != 2) return null;
            byte[] blob;
            try { blob = Convert.FromBase64String(fields[1]); } catch (FormatException) { return null; }
            if (blob.Length < 5 || fields[0] != Name || BinaryPrimitives.ReadUInt32BigEndian(blob) != Id) continue;
            if (!_ecdsa.VerifyData(Encoding.UTF8.GetBytes(text), blob.AsSpan(4), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
                return null;
            verified = true;
        }
        return verified ? text : null;
    }
}
