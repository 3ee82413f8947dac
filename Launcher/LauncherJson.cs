using System.Text.Json.Serialization;
using Mep.Protocol;

namespace Mep.Launcher;

/// <summary>
/// Source-generated metadata for the launcher's own state files, in the protocol's dialect: mep-launcher is published
/// as Native AOT, which has no reflection-based serialization.
/// </summary>
[JsonSerializable(typeof(ChildRecord))]
internal sealed partial class LauncherJson : JsonSerializerContext
{
    public static LauncherJson Files { get; } = new(ProtocolJsonContext.Dialect());
}
