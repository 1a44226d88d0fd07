// Compiled by MSBuild's RoslynCodeTaskFactory (see Gpt2MLNet.Torch.targets beside it, which the Gpt2MLNet.Torch package
// carries to every project that uses it, and which the repository's Directory.Build.targets imports).
//
// TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and records a need for
// the version GLIBCXX_3.4.32. The only symbol it takes from that version, std::ios_base_library_init(),
// is never used by a relocation, so the library runs fine on an older libstdc++ (GCC 12, Debian 12) once
// that version need is marked VER_FLG_WEAK: the dynamic loader then accepts its absence.
// This task does exactly that, on the copy in the build output, and only where the system libstdc++
// does not define the version.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenLibstdcxxVersionNeed : Task
{
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    /// <summary>The native libraries to patch in place (copies in the build output, never the NuGet cache).</summary>
    [Required]
    public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The libstdc++ version need to weaken, e.g. GLIBCXX_3.4.32.</summary>
    [Required]
    public string VersionName { get; set; } = string.Empty;

    public override bool Execute()
    {
        if (Libraries.Length == 0)
            return true;

        string? systemLibstdcxx = FindSystemLibstdcxx();
        if (systemLibstdcxx is null)
        {
            // Not a warning: it would fail the builds of applications that treat warnings as errors, on systems
            // (musl, for example) where there is nothing this task could do anyway.
            Log.LogMessage(MessageImportance.Normal, $"No system libstdc++.so.6 found; {VersionName} needs are left as they are.");
            return true;
        }
        if (ReadVersionDefinitions(File.ReadAllBytes(systemLibstdcxx)).Contains(VersionName))
        {
            Log.LogMessage(MessageImportance.Low, $"{systemLibstdcxx} defines {VersionName}; nothing to patch.");
            return true;
        }

        foreach (ITaskItem item in Libraries)
        {
            string path = item.ItemSpec;
            byte[] image = File.ReadAllBytes(path);
            int patched = WeakenVersionNeed(image, VersionName);
            if (patched == 0)
                continue;

            // Write a new file and rename it over the old one: the output copy may be a hard link into the
            // NuGet cache, which must stay untouched. File.Copy keeps the file mode; rename(2) replaces atomically.
            string temporary = path + ".weakening";
            File.Copy(path, temporary, overwrite: true);
            File.WriteAllBytes(temporary, image);
            File.Replace(temporary, path, destinationBackupFileName: null);
            Log.LogMessage(MessageImportance.Normal,
                $"{path}: marked the {VersionName} version need weak ({systemLibstdcxx} lacks it).");
        }
        return !Log.HasLoggedErrors;
    }

    private static string? FindSystemLibstdcxx()
    {
        var directories = new List<string>();
        string? ldLibraryPath = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
        if (!string.IsNullOrEmpty(ldLibraryPath))
            directories.AddRange(ldLibraryPath.Split(new[] { ':' }, StringSplitOptions.RemoveEmptyEntries));
        string triplet = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
        directories.AddRange(new[] { $"/lib/{triplet}", $"/usr/lib/{triplet}", "/usr/lib64", "/lib64", "/usr/lib", "/lib" });
        foreach (string directory in directories)
        {
            string candidate = Path.Combine(directory, "libstdc++.so.6");
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private readonly struct Section
    {
        public Section(uint type, long offset, uint link, uint info)
        {
            Type = type;
            Offset = offset;
            Link = link;
            Info = info;
        }

        public uint Type { get; }
        public long Offset { get; }
        public uint Link { get; }
        public uint Info { get; }
    }

    private static Section[] ReadSections(byte[] image)
    {
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (image[4] != 2 || image[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");

        long sectionHeaders = (long)BitConverter.ToUInt64(image, 0x28);
        int entrySize = BitConverter.ToUInt16(image, 0x3A);
        int count = BitConverter.ToUInt16(image, 0x3C);
        var sections = new Section[count];
        for (int i = 0; i < count; i++)
        {
            int header = checked((int)(sectionHeaders + (long)i * entrySize));
            sections[i] = new Section(
                BitConverter.ToUInt32(image, header + 0x04),
                (long)BitConverter.ToUInt64(image, header + 0x18),
                BitConverter.ToUInt32(image, header + 0x28),
                BitConverter.ToUInt32(image, header + 0x2C));
        }
        return sections;
    }

    private static string ReadString(byte[] image, Section table, uint offset)
    {
        int start = checked((int)(table.Offset + offset));
        int end = Array.IndexOf(image, (byte)0, start);
        return Encoding.ASCII.GetString(image, start, end - start);
    }

    /// <summary>The version names an ELF shared library defines (its .gnu.version_d section).</summary>
    private static HashSet<string> ReadVersionDefinitions(byte[] image)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        Section[] sections = ReadSections(image);
        foreach (Section section in sections)
        {
            if (section.Type != ShtGnuVerdef)
                continue;
            Section strings = sections[section.Link];
            int definition = checked((int)section.Offset);
            for (uint i = 0; i < section.Info; i++)
            {
                int auxiliary = definition + (int)BitConverter.ToUInt32(image, definition + 12);
                names.Add(ReadString(image, strings, BitConverter.ToUInt32(image, auxiliary)));
                uint next = BitConverter.ToUInt32(image, definition + 16);
                if (next == 0)
                    break;
                definition += (int)next;
            }
        }
        return names;
    }

    /// <summary>Sets VER_FLG_WEAK on every non-weak need for <paramref name="versionName"/>; returns how many it changed.</summary>
    private static int WeakenVersionNeed(byte[] image, string versionName)
    {
        int changed = 0;
        Section[] sections = ReadSections(image);
        foreach (Section section in sections)
        {
            if (section.Type != ShtGnuVerneed)
                continue;
            Section strings = sections[section.Link];
            int need = checked((int)section.Offset);
            for (uint i = 0; i < section.Info; i++)
            {
                ushort auxiliaryCount = BitConverter.ToUInt16(image, need + 2);
                int auxiliary = need + (int)BitConverter.ToUInt32(image, need + 8);
                for (int j = 0; j < auxiliaryCount; j++)
                {
                    ushort flags = BitConverter.ToUInt16(image, auxiliary + 4);
                    string name = ReadString(image, strings, BitConverter.ToUInt32(image, auxiliary + 8));
                    if (name == versionName && (flags & VerFlagWeak) == 0)
                    {
                        ushort weakened = (ushort)(flags | VerFlagWeak);
                        image[auxiliary + 4] = (byte)weakened;
                        image[auxiliary + 5] = (byte)(weakened >> 8);
                        changed++;
                    }
                    auxiliary += (int)BitConverter.ToUInt32(image, auxiliary + 12);
                }
                uint next = BitConverter.ToUInt32(image, need + 12);
                if (next == 0)
                    break;
                need += (int)next;
            }
        }
        return changed;
    }
}
