// io.github.enroll: Android library (AAR) with the enroll Rust core.
//
//   ./gradlew assembleRelease      cargo-ndk builds libenroll_ffi.so per ABI (profile `mobile`),
//                                  uniffi-bindgen generates the Kotlin bindings, both are packaged
//   ./gradlew testDebugUnitTest    JVM unit tests against the host build of the library (start a
//                                  reference server first: see bindings/tests/run-kotlin.sh)
//
// Needs: Rust with the Android targets (`rustup target add aarch64-linux-android
// armv7-linux-androideabi x86_64-linux-android`), cargo-ndk >= 3.5 (`cargo install cargo-ndk`),
// and the NDK named by `ndkVersion` (ANDROID_NDK_HOME).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.20"
}

val repoRoot: File = rootDir.parentFile
val cargo: String = providers.environmentVariable("CARGO").getOrElse("cargo")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

// Bindings are generated from an unstripped host build: the stripped mobile library has no
// uniffi metadata. The same host build is the native library of the JVM unit tests.
val hostLibrary = File(repoRoot, "target/debug/" + System.mapLibraryName("enroll_ffi"))
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")
val rustJniLibs = layout.buildDirectory.dir("rustJniLibs")

android {
    namespace = "io.github.enroll"
    compileSdk = 35
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets["main"].java.srcDir(generatedKotlin)
    sourceSets["main"].jniLibs.srcDir(rustJniLibs)
}


kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")

    testImplementation("net.java.dev.jna:jna:5.17.0")
    testImplementation("junit:junit:4.13.2")
    testImplementation(kotlin("test-junit"))
}

val buildHostLibrary by tasks.registering(Exec::class) {
    description = "Builds the unstripped host library and uniffi-bindgen (debug)."
    workingDir = repoRoot
    commandLine(cargo, "build", "-p", "enroll-ffi", "-p", "uniffi-bindgen")
}

val generateUniffiBindings by tasks.registering(Exec::class) {
    description = "Generates the Kotlin bindings from the host library's uniffi metadata."
    dependsOn(buildHostLibrary)
    workingDir = repoRoot
    val out = generatedKotlin.get().asFile
    outputs.dir(out)
    commandLine(
        File(repoRoot, "target/debug/uniffi-bindgen").path,
        "generate", "--library", hostLibrary.path,
        "--language", "kotlin", "--no-format", "--out-dir", out.path,
    )
}

// The link flags of the Android targets (packed relocations, identical code folding) come from
// the repository's .cargo/config.toml.
val cargoNdkBuild by tasks.registering(Exec::class) {
    description = "Builds libenroll_ffi.so for each ABI with cargo-ndk (size-optimised `mobile` profile)."
    workingDir = repoRoot
    val out = rustJniLibs.get().asFile
    outputs.dir(out)
    commandLine(
        listOf(cargo, "ndk") + abis.flatMap { listOf("-t", it) } +
            listOf("--platform", "26", "-o", out.path, "build", "-p", "enroll-ffi", "--profile", "mobile"),
    )
}

tasks.named("preBuild") { dependsOn(generateUniffiBindings, cargoNdkBuild) }

// JVM unit tests load the host build of the library through JNA.
tasks.withType<Test>().configureEach {
    dependsOn(buildHostLibrary)
    systemProperty("jna.library.path", hostLibrary.parent)
}
