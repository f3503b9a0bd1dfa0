namespace Actors.Runtime.Protocol;

/// <summary>Marker of the public messages; bound to the MessagePack serializer in reference.conf.</summary>
public interface IRuntimeMessage;
