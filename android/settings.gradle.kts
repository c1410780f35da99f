// The Android library module of enroll: the Rust library (built per ABI by cargo-ndk), the
// uniffi-generated Kotlin bindings and the hand-written Kotlin wrapper, packaged as one AAR.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "enroll-android"
