using System.Numerics;
using System.Security.Cryptography;

namespace TenantEvents.Ledger;

/// <summary>RFC 9162 section 2.1 hashing: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).</summary>
public static class MerkleHash
{
    public const int Size = 32;

    /// <summary>The root of the empty tree: SHA-256 of the empty string.</summary>
    public static readonly byte[] EmptyRoot = SHA256.HashData([]);

    public static byte[] Leaf(ReadOnlySpan<byte> data)
    {
        var hash = new byte[Size];
        Leaf(data, hash);
        return hash;
    }

    public static void Leaf(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> prefix = [0x00];
        sha.AppendData(prefix);
        sha.AppendData(data);
        sha.GetHashAndReset(destination);
    }

    public static byte[] Children(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[Size];
        Children(left, right, hash);
        return hash;
    }

    public static void Children(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        Span<byte> buffer = stackalloc byte[1 + 2 * Size];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + Size)..]);
        SHA256.HashData(buffer, destination);
    }

    /// <summary>The largest power of two strictly smaller than <paramref name="n"/> (n > 1).</summary>
    public static long Split(long n) => (long)BitOperations.RoundUpToPowerOf2((ulong)n) >> 1;
}

/// <summary>
/// An append-only Merkle tree held in memory: the leaf hashes and, per level, the hash of every complete (perfect)
/// subtree, so any tree size's root and any proof costs O(log n) hashes after the leaves are in.
/// </summary>
public sealed class MerkleTree
{
    // _levels[l] holds the hashes of the perfect subtrees of 2^l leaves, contiguously, 32 bytes each.
    private readonly List<byte[]> _levels = [];
    private readonly List<long> _counts = [];

    public long Size => _counts.Count == 0 ? 0 : _counts[0];

    public void Append(ReadOnlySpan<byte> leafHash)
    {
        if (leafHash.Length != MerkleHash.Size) throw new ArgumentException("A leaf hash is 32 bytes.", nameof(leafHash));
        Put(0, leafHash);
        var index = Size - 1;
        Span<byte> parent = stackalloc byte[MerkleHash.Size];
        for (var level = 0; (index & 1) == 1; level++, index >>= 1)
        {
            MerkleHash.Children(Node(level, index - 1), Node(level, index), parent);
            Put(level + 1, parent);
        }
    }

    private void Put(int level, ReadOnlySpan<byte> hash)
    {
        while (_levels.Count <= level) { _levels.Add(new byte[MerkleHash.Size * 1024]); _counts.Add(0); }
        var count = _counts[level];
        var buffer = _levels[level];
        if ((count + 1) * MerkleHash.Size > buffer.LongLength)
        {
            Array.Resize(ref buffer, (int)Math.Min(Array.MaxLength, buffer.LongLength * 2));
            _levels[level] = buffer;
        }
        hash.CopyTo(buffer.AsSpan((int)(count * MerkleHash.Size), MerkleHash.Size));
        _counts[level] = count + 1;
    }

    private ReadOnlySpan<byte> Node(int level, long index) => _levels[level].AsSpan((int)(index * MerkleHash.Size), MerkleHash.Size);

    public byte[] LeafHash(long index)
    {
        if (index < 0 || index >= Size) throw new ArgumentOutOfRangeException(nameof(index));
        return Node(0, index).ToArray();
    }

    /// <summary>MTH(D[0:size]): the root the tree had when it held <paramref name="size"/> leaves.</summary>
    public byte[] Root(long size)
    {
        if (size < 0 || size > Size) throw new ArgumentOutOfRangeException(nameof(size), $"The tree holds {Size} leaves.");
        return size == 0 ? MerkleHash.EmptyRoot.ToArray() : Hash(0, size);
    }

    /// <summary>MTH(D[start:end]) for a range that is a subtree of the left-balanced tree (start aligned).</summary>
    private byte[] Hash(long start, long end)
    {
        var n = end - start;
        if (BitOperations.IsPow2(n) && start % n == 0)
            return Node(BitOperations.Log2((ulong)n), start / n).ToArray();
        var k = MerkleHash.Split(n);
        return MerkleHash.Children(Hash(start, start + k), Hash(start + k, end));
    }

    /// <summary>RFC 9162 section 2.1.3.1: the inclusion proof of leaf <paramref name="index"/> in the tree of <paramref name="size"/>.</summary>
    public IReadOnlyList<byte[]> InclusionProof(long index, long size)
    {
        if (size < 1 || size > Size) throw new ArgumentOutOfRangeException(nameof(size), $"The tree holds {Size} leaves.");
        if (index < 0 || index >= size) throw new ArgumentOutOfRangeException(nameof(index), $"No leaf {index} in a tree of {size}.");
        var path = new List<byte[]>();
        Path(index, 0, size, path);
        return path;
    }

    private void Path(long m, long start, long end, List<byte[]> path)
    {
        var n = end - start;
        if (n == 1) return;
        var k = MerkleHash.Split(n);
        if (m < k)
        {
            Path(m, start, start + k, path);
            path.Add(Hash(start + k, end));
        }
        else
        {
            Path(m - k, start + k, end, path);
            path.Add(Hash(start, start + k));
        }
    }

    /// <summary>RFC 9162 section 2.1.4.1: the proof that the tree of <paramref name="size1"/> is a prefix of the tree of <paramref name="size2"/>.</summary>
    public IReadOnlyList<byte[]> ConsistencyProof(long size1, long size2)
    {
        if (size2 > Size || size1 < 0 || size1 > size2) throw new ArgumentOutOfRangeException(nameof(size2), $"Need 0 <= size1 <= size2 <= {Size}.");
        var proof = new List<byte[]>();
        if (size1 == 0 || size1 == size2) return proof;
        SubProof(size1, 0, size2, true, proof);
        return proof;
    }

    private void SubProof(long m, long start, long end, bool whole, List<byte[]> proof)
    {
        var n = end - start;
        if (m == n)
        {
            if (!whole) proof.Add(Hash(start, end));
            return;
        }
        var k = MerkleHash.Split(n);
        if (m <= k)
        {
            SubProof(m, start, start + k, whole, proof);
            proof.Add(Hash(start + k, end));
        }
        else
        {
            SubProof(m - k, start + k, end, false, proof);
            proof.Add(Hash(start, start + k));
        }
    }
}

/// <summary>
/// Verification of inclusion and consistency proofs (RFC 9162 sections 2.1.3.2 and 2.1.4.2), and of subtree proofs.
/// Indexes and sizes are unsigned 64-bit, as on the wire; nothing here throws on hostile input, it answers false.
/// </summary>
public static class MerkleProof
{
    /// <summary>The root that an inclusion proof leads to, or null if the proof cannot be one for this index and size.</summary>
    public static byte[]? RootFromInclusion(ulong index, ulong size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof)
    {
        if (index >= size || leafHash.Length != MerkleHash.Size) return null;
        ulong fn = index, sn = size - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (p.Length != MerkleHash.Size || sn == 0) return null;
            if ((fn & 1) == 1 || fn == sn)
            {
                r = MerkleHash.Children(p, r);
                while ((fn & 1) == 0 && fn != 0) { fn >>= 1; sn >>= 1; }
            }
            else r = MerkleHash.Children(r, p);
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 ? r : null;
    }

    public static bool VerifyInclusion(ulong index, ulong size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root) =>
        RootFromInclusion(index, size, leafHash, proof) is { } computed && computed.AsSpan().SequenceEqual(root);

    /// <summary>RFC 9162 section 2.1.4.2. A proof from the empty tree carries no information and is refused.</summary>
    public static bool VerifyConsistency(ulong size1, ulong size2, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root1, ReadOnlySpan<byte> root2)
    {
        if (size1 == 0 || size2 < size1) return false;
        if (size1 == size2) return proof.Count == 0 && root1.SequenceEqual(root2);
        return root1.Length == MerkleHash.Size && RootsFromConsistency(size1, size2, proof, root1) is { } roots
               && roots.Old.AsSpan().SequenceEqual(root1) && roots.New.AsSpan().SequenceEqual(root2);
    }

    /// <summary>The two roots (old, new) a consistency proof chains to, or null if it has the wrong shape (0 &lt; size1 &lt; size2).</summary>
    private static (byte[] Old, byte[] New)? RootsFromConsistency(ulong size1, ulong size2, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root1)
    {
        if (proof.Count == 0 || proof.Any(p => p.Length != MerkleHash.Size)) return null;
        var path = BitOperations.IsPow2(size1) ? [root1.ToArray(), .. proof] : proof.ToList();
        ulong fn = size1 - 1, sn = size2 - 1;
        while ((fn & 1) == 1) { fn >>= 1; sn >>= 1; }
        byte[] fr = path[0], sr = path[0];
        for (var i = 1; i < path.Count; i++)
        {
            var p = path[i];
            if (sn == 0) return null;
            if ((fn & 1) == 1 || fn == sn)
            {
                fr = MerkleHash.Children(p, fr);
                sr = MerkleHash.Children(p, sr);
                while ((fn & 1) == 0 && fn != 0) { fn >>= 1; sn >>= 1; }
            }
            else sr = MerkleHash.Children(sr, p);
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 ? (fr, sr) : null;
    }

    /// <summary>
    /// Whether [start, end) is a subtree of a log's tree: the empty range, or start 0, or start a multiple of the smallest
    /// power of two that is at least end - start.
    /// </summary>
    public static bool IsSubtree(ulong start, ulong end)
    {
        if (start > end) return false;
        if (start == 0 || start == end) return true;
        var length = end - start;
        if (length > 1UL << 63) return false;
        return start % BitOperations.RoundUpToPowerOf2(length) == 0;
    }

    /// <summary>Inclusion of leaf <paramref name="index"/> in the subtree [start, end) whose hash is <paramref name="subtreeRoot"/>.</summary>
    public static bool VerifySubtreeInclusion(ulong index, ulong start, ulong end, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof,
        ReadOnlySpan<byte> subtreeRoot) =>
        IsSubtree(start, end) && index >= start && index < end && VerifyInclusion(index - start, end - start, leafHash, proof, subtreeRoot);

    /// <summary>
    /// That the subtree [start, end) with hash <paramref name="subtreeRoot"/> is part of the tree of <paramref name="size"/>
    /// with root <paramref name="root"/>. The subtree lies inside the tree's node N = [start, min(start + 2^h, size)), 2^h the
    /// smallest power of two of at least end - start: the proof is the consistency proof from end - start to |N| inside N
    /// (nothing when the subtree is N), followed by N's inclusion path among the tree's nodes of height h. The empty
    /// subtree is part of every tree: its hash must be the empty root and its proof empty.
    /// </summary>
    public static bool VerifySubtreeConsistency(ulong start, ulong end, ulong size, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> subtreeRoot,
        ReadOnlySpan<byte> root)
    {
        if (!IsSubtree(start, end) || end > size) return false;
        if (start == end) return proof.Count == 0 && subtreeRoot.SequenceEqual(MerkleHash.EmptyRoot);
        if (start == 0 && end == size) return proof.Count == 0 && subtreeRoot.SequenceEqual(root);
        if (subtreeRoot.Length != MerkleHash.Size || root.Length != MerkleHash.Size || proof.Any(p => p.Length != MerkleHash.Size)) return false;
        if (end - start > 1UL << 62) return false;
        var width = BitOperations.RoundUpToPowerOf2(end - start);
        var nodeEnd = size - start < width ? size : start + width;
        ulong inner = end - start, outer = nodeEnd - start;
        // N's place among the nodes of height h: index start / 2^h of ceil(size / 2^h).
        ulong nodeIndex = start / width, nodes = size / width + (size % width == 0 ? 0UL : 1UL);
        var innerLength = proof.Count - InclusionPathLength(nodeIndex, nodes);
        if (innerLength < 0) return false;
        byte[] nodeHash;
        if (inner == outer)
        {
            if (innerLength != 0) return false;
            nodeHash = subtreeRoot.ToArray();
        }
        else
        {
            if (RootsFromConsistency(inner, outer, proof.Take(innerLength).ToList(), subtreeRoot) is not { } roots
                || !roots.Old.AsSpan().SequenceEqual(subtreeRoot))
                return false;
            nodeHash = roots.New;
        }
        return VerifyInclusion(nodeIndex, nodes, nodeHash, proof.Skip(innerLength).ToList(), root);
    }

    /// <summary>The number of hashes in the inclusion proof of leaf <paramref name="index"/> in a tree of <paramref name="size"/>.</summary>
    public static int InclusionPathLength(ulong index, ulong size)
    {
        if (size <= 1) return 0;
        var inner = 64 - BitOperations.LeadingZeroCount(index ^ (size - 1));
        return inner + BitOperations.PopCount(index >> inner);
    }
}
