package io.dynoffheap.nativebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Platform;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;

import org.junit.jupiter.api.Test;

/** Loading libdynoffheap, and what a failure to load says. */
class NativeBridgeTest {

    @Test
    void loadsFromTheClassPath() {
        NativeBridge.load();
        NativeBridge.load(); // idempotent
        assertTrue(NativeBridge.isLoaded());
        assertEquals(Platform.RESOURCE_PREFIX + "/libdynoffheap.so", NativeBridge.resourcePath());
        assertNotNull(NativeBridge.class.getClassLoader().getResource(NativeBridge.resourcePath()));
        assertEquals(NativeBridge.ABI_VERSION, NativeBridge.dynoffheap_bridge_abi_version());
    }

    @Test
    void missingResourceNamesPlatformAndResource() throws Exception {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            NativeLibraryUnavailableException e = assertThrows(
                    NativeLibraryUnavailableException.class, () -> NativeBridge.locate(empty, null));
            String message = e.getMessage();
            assertTrue(message.contains("'" + NativeBridge.resourcePath() + "'"), message);
            assertTrue(message.contains("JNA platform " + Platform.RESOURCE_PREFIX), message);
            assertTrue(message.contains("os.name=" + System.getProperty("os.name")), message);
            assertTrue(message.contains("os.arch=" + System.getProperty("os.arch")), message);
        }
    }

    @Test
    void overridePathMustBeAFile() {
        NativeLibraryUnavailableException e = assertThrows(NativeLibraryUnavailableException.class,
                () -> NativeBridge.locate(null, "/nonexistent/libdynoffheap.so"));
        assertTrue(e.getMessage().contains(NativeBridge.LIBRARY_PATH_PROPERTY), e.getMessage());
        assertTrue(e.getMessage().contains("/nonexistent/libdynoffheap.so"), e.getMessage());
    }

    @Test
    void overridePathIsUsedWhenGiven() {
        File onClassPath = NativeBridge.locate(NativeBridge.class.getClassLoader(), null);
        assertTrue(onClassPath.isFile());
        assertEquals(onClassPath, NativeBridge.locate(null, onClassPath.getPath()));
    }
}
