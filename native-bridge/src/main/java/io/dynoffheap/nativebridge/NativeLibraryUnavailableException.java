package io.dynoffheap.nativebridge;

/**
 * Thrown when libdynoffheap cannot be loaded on this JVM: the jar carries no build of it
 * for this platform, the file cannot be extracted or loaded, or it speaks another ABI.
 * The message names the platform and the resource that was looked for.
 */
public final class NativeLibraryUnavailableException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public NativeLibraryUnavailableException(String message) {
        super(message);
    }

    public NativeLibraryUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
