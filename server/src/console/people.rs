//! Console pages of people and their devices: users and invitations (the invitation URL and
//! its one-time PIN are shown once, in the reply to the form), devices with their states,
//! history and archived entries (and the platform section of `mdm.rs`), retire / wipe / reset,
//! and pending installs (the reminder list of enrollments started and never confirmed).

use super::{admin, admin_post, error_page, flash, frame, image};
use crate::devices::{queries::state_str, DeviceService};
use crate::enrollment::EnrollmentService;
use crate::http::{blocking, AppState, PathParam, Route};
use crate::users::UserService;
use crate::web::{attr, esc, fmt_time, redirect, Form, Lang};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use enroll_proto::secret::SecretString;
use enroll_proto::{CreateUserRequest, DeviceAction, DeviceView, InviteRequest};

/// The pages of this file.
pub(super) fn pages() -> Vec<Route> {
    vec![
        Route::new("GET", "/console/users", get(users)),
        Route::new("POST", "/console/users", post(create_user)),
        Route::new("POST", "/console/users/invite", post(invite)),
        Route::new("GET", "/console/users/invitation-qr", get(invitation_qr)),
        Route::new("GET", "/console/devices", get(devices)),
        Route::new("GET", "/console/devices/{id}", get(device)),
        Route::new("POST", "/console/devices/{id}/action", post(device_action)),
        Route::new("GET", "/console/pending", get(pending)),
    ]
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn users(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let list = match blocking(core.clone(), |s| UserService(s).list_users()).await {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let rows: String = list
        .iter()
        .map(|u| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/console/users/invite\" class=\"inline\">{}\
<input type=\"hidden\" name=\"email\" {}><label class=\"check\"><input type=\"checkbox\" name=\"with_pin\" value=\"1\" checked> PIN</label> \
<button type=\"submit\" class=\"quiet\">{}</button></form></td></tr>",
                esc(&u.email),
                esc(&u.display_name),
                if u.directory {
                    l.t("directory", "annuaire")
                } else if u.has_password {
                    l.t("local, password set", "local, mot de passe défini")
                } else {
                    l.t("local, no password", "local, sans mot de passe")
                },
                adm.csrf(),
                attr("value", &u.email),
                l.t("Invite", "Inviter"),
            )
        })
        .collect();
    let body = format!(
        "<div class=\"table\"><table id=\"users\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>\
<h2>{}</h2><div class=\"card\"><form method=\"post\" action=\"/console/users\">{}\
<label for=\"email\">{}</label><input type=\"email\" id=\"email\" name=\"email\" required>\
<label for=\"display_name\">{}</label><input type=\"text\" id=\"display_name\" name=\"display_name\">\
<label for=\"password\">{}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\">\
<label class=\"check\"><input type=\"checkbox\" name=\"directory\" value=\"1\"> {}</label><br>\
<button type=\"submit\" id=\"create-user\">{}</button></form></div>",
        l.t("E-mail", "E-mail"),
        l.t("Name", "Nom"),
        l.t("Account", "Compte"),
        l.t("New user", "Nouvel utilisateur"),
        adm.csrf(),
        l.t("E-mail address", "Adresse e-mail"),
        l.t("Display name", "Nom affiché"),
        l.t("Password (optional: the user can set one after a PIN)", "Mot de passe (facultatif : l'utilisateur peut le choisir après un PIN)"),
        l.t("Directory account (network credentials)", "Compte de l'annuaire (identifiants réseau)"),
        l.t("Create user", "Créer l'utilisateur"),
    );
    frame(
        &core,
        &adm,
        l,
        l.t("Users and invitations", "Utilisateurs et invitations"),
        "/console/users",
        body,
    )
    .into_response()
}

async fn create_user(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let req = CreateUserRequest {
        email: form.get("email").unwrap_or_default().to_string(),
        display_name: form.get("display_name").unwrap_or_default().to_string(),
        password: form
            .raw("password")
            .filter(|p| !p.is_empty())
            .map(|p| SecretString::new(p.to_string())),
        directory: form.checked("directory"),
    };
    match blocking(core.clone(), move |s| UserService(s).create_user(&req)).await {
        Ok(u) => {
            flash(
                &core,
                &adm,
                &format!("{} {}", l.t("User created:", "Utilisateur créé :"), u.email),
            );
            redirect("/console/users")
        }
        Err(e) => error_page(l, &e),
    }
}

async fn invite(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let email = form.get("email").unwrap_or_default().to_string();
    let req = InviteRequest {
        with_pin: form.checked("with_pin"),
        pin_ttl_secs: None,
    };
    let who = email.clone();
    let resp = match blocking(core.clone(), move |s| EnrollmentService(s).invite(&who, &req)).await {
        Ok(r) => r,
        Err(e) => return error_page(l, &e),
    };
    let pin = match (&resp.pin, resp.pin_expires_at) {
        (Some(p), Some(at)) => format!(
            "<p>{} <span class=\"secret\" id=\"pin\">{}</span> ({} {})</p>",
            l.t("One-time PIN:", "PIN à usage unique :"),
            esc(p.expose()),
            l.t("valid until", "valable jusqu'au"),
            fmt_time(at)
        ),
        _ => String::new(),
    };
    let body = format!(
        "<div class=\"card\"><p class=\"note\">{}</p><p>{} <span class=\"secret\" id=\"invite-url\">{}</span></p>{pin}\
<img class=\"qr\" src=\"/console/users/invitation-qr?email={}\" alt=\"QR\" width=\"320\" height=\"320\"></div><p><a href=\"/console/users\">{}</a></p>",
        l.t(
            "Shown once: send the link and the PIN to the user now (the PIN is not stored in clear).",
            "Affichés une seule fois : envoyez maintenant le lien et le PIN à l'utilisateur (le PIN n'est pas conservé en clair).",
        ),
        l.t("Invitation link:", "Lien d'invitation :"),
        esc(&resp.url),
        enc(&email),
        l.t("Back to the users", "Retour aux utilisateurs"),
    );
    frame(
        &core,
        &adm,
        l,
        &format!("{} {email}", l.t("Invitation for", "Invitation pour")),
        "/console/users",
        body,
    )
    .into_response()
}

async fn invitation_qr(State(core): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let l = Lang::of(&headers);
    if let Err(r) = admin(&core, &headers) {
        return r;
    }
    let email = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "email")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let format = crate::qr::ImageFormat::Png;
    match blocking(core, move |s| {
        EnrollmentService(s).invitation_qr(&email, format, crate::qr::DEFAULT_SCALE)
    })
    .await
    {
        Ok(png) => image(png, format),
        Err(e) => error_page(l, &e),
    }
}

fn state_badge(d: &DeviceView) -> String {
    let s = state_str(d.state);
    format!("<span class=\"state state-{s}\">{s}</span>")
}

fn device_rows(l: Lang, list: &[DeviceView]) -> String {
    list.iter()
        .map(|d| {
            format!(
                "<tr><td><a href=\"/console/devices/{}\">{}</a></td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                enc(&d.id),
                esc(&d.device.model),
                state_badge(d),
                esc(d.device.platform.as_str()),
                esc(&d.device.os_version),
                esc(d.user.as_deref().unwrap_or("—")),
                d.enrolled_at.map(fmt_time).unwrap_or_else(|| l.t("never", "jamais").into()),
                d.last_checkin_at.map(fmt_time).unwrap_or_else(|| "—".into()),
            )
        })
        .collect()
}

fn device_table(l: Lang, id: &str, list: &[DeviceView]) -> String {
    format!(
        "<div class=\"table\"><table id=\"{id}\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table></div>",
        l.t("Device", "Appareil"),
        l.t("State", "État"),
        l.t("System", "Système"),
        l.t("User", "Utilisateur"),
        l.t("Enrolled", "Inscrit"),
        l.t("Last check-in", "Dernier contact"),
        device_rows(l, list)
    )
}

async fn devices(State(core): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let archived = uri.query().is_some_and(|q| q.contains("archived=1"));
    let list = match blocking(core.clone(), move |s| DeviceService(s).list_devices(archived)).await {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let toggle = if archived {
        format!(
            "<a href=\"/console/devices\">{}</a>",
            l.t("Hide archived entries", "Masquer les entrées archivées")
        )
    } else {
        format!(
            "<a href=\"/console/devices?archived=1\" id=\"show-archived\">{}</a>",
            l.t("Show archived entries", "Afficher les entrées archivées")
        )
    };
    let body = format!("<p>{toggle}</p>{}", device_table(l, "devices", &list));
    frame(
        &core,
        &adm,
        l,
        l.t("Devices", "Appareils"),
        "/console/devices",
        body,
    )
    .into_response()
}

async fn device(State(core): State<AppState>, headers: HeaderMap, PathParam(id): PathParam) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let did = id.clone();
    let d = match blocking(core.clone(), move |s| DeviceService(s).device_detail(&did)).await {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let v = &d.device;
    let history: String = d
        .history
        .iter()
        .map(|h| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt_time(h.at),
                esc(&h.event),
                esc(&h.detail)
            )
        })
        .collect();
    let action = |a: &str, label: &str, danger: bool, ask: &str| {
        format!(
            "<form method=\"post\" action=\"/console/devices/{}/action\" class=\"inline\" {}>{}<input type=\"hidden\" name=\"action\" value=\"{a}\">\
<button type=\"submit\" id=\"action-{a}\"{}>{}</button></form>",
            enc(&id),
            attr("data-confirm", ask),
            adm.csrf(),
            if danger { " class=\"danger\"" } else { "" },
            esc(label)
        )
    };
    let actions = if v.state == enroll_proto::DeviceState::Active {
        format!(
            "<p>{}{}{}</p>",
            action(
                "retire",
                l.t("Retire", "Retirer"),
                true,
                l.t(
                    "Retire this device? It stops being managed.",
                    "Retirer cet appareil ? Il ne sera plus géré."
                )
            ),
            action(
                "wipe",
                l.t("Wipe", "Effacer"),
                true,
                l.t(
                    "Erase this device at its next check-in?",
                    "Effacer cet appareil à son prochain contact ?"
                )
            ),
            action(
                "reset",
                l.t("Reset", "Réinitialiser"),
                false,
                l.t(
                    "Reset this device at its next check-in?",
                    "Réinitialiser cet appareil à son prochain contact ?"
                )
            ),
        )
    } else {
        format!(
            "<p class=\"note\">{}</p>",
            l.t(
                "Only an active device takes actions.",
                "Seul un appareil actif accepte des actions."
            )
        )
    };
    let platform_section = super::mdm::section(&core, l, &adm.csrf(), &id, v.device.platform).await;
    let body = format!(
        "<div class=\"card\"><p>{} {}</p><p>{} {} {} · {} · {}</p><p>{} {}</p>{}</div>{actions}{platform_section}\
<h2>{}</h2><div class=\"table\"><table id=\"history\"><tbody>{history}</tbody></table></div><h2>{}</h2>{}",
        l.t("State:", "État :"),
        state_badge(v),
        esc(&v.device.manufacturer),
        esc(&v.device.model),
        esc(v.device.platform.as_str()),
        esc(&v.device.os_version),
        esc(v.device.serial.as_deref().unwrap_or("")),
        l.t("User:", "Utilisateur :"),
        esc(v.user.as_deref().unwrap_or("—")),
        v.pending_action
            .map(|a| format!(
                "<p class=\"note\" id=\"pending-action\">{} {}</p>",
                l.t("Waiting for the device:", "En attente de l'appareil :"),
                crate::devices::queries::action_str(a)
            ))
            .unwrap_or_default(),
        l.t("History", "Historique"),
        l.t("Archived entries", "Entrées archivées"),
        device_table(l, "archived", &d.archived),
    );
    frame(
        &core,
        &adm,
        l,
        &format!("{} {}", l.t("Device", "Appareil"), v.device.model),
        &format!("/console/devices/{}", enc(&id)),
        body,
    )
    .into_response()
}

async fn device_action(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let action = match form.get("action") {
        Some("retire") => DeviceAction::Retire,
        Some("wipe") => DeviceAction::Wipe,
        Some("reset") => DeviceAction::Reset,
        _ => {
            return error_page(
                l,
                &crate::error::ApiError::bad_request("action must be retire, wipe or reset"),
            )
        }
    };
    let did = id.clone();
    match blocking(core.clone(), move |s| {
        DeviceService(s).device_action(&did, action)
    })
    .await
    {
        Ok(v) => {
            flash(
                &core,
                &adm,
                &format!("{} {}", l.t("Done. State:", "Fait. État :"), state_str(v.state)),
            );
            redirect(&format!("/console/devices/{}", enc(&id)))
        }
        Err(e) => error_page(l, &e),
    }
}

async fn pending(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let list = match blocking(core.clone(), |s| DeviceService(s).pending_installs()).await {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let rows: String = list
        .iter()
        .map(|p| {
            format!(
                "<tr><td><a href=\"/console/devices/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                enc(&p.device_id),
                esc(&p.device_id),
                esc(p.user.as_deref().unwrap_or("—")),
                fmt_time(p.started_at),
                p.last_profile_at.map(fmt_time).unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    let body = format!(
        "<p class=\"note\">{}</p><div class=\"table\"><table id=\"pending\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table></div>",
        l.t(
            "Enrollments started and never confirmed: remind these users to install the profile.",
            "Inscriptions commencées et jamais confirmées : rappelez à ces utilisateurs d'installer le profil.",
        ),
        l.t("Device", "Appareil"),
        l.t("User", "Utilisateur"),
        l.t("Started", "Commencée"),
        l.t("Last profile", "Dernier profil"),
    );
    frame(
        &core,
        &adm,
        l,
        l.t("Pending installs", "Installations en attente"),
        "/console/pending",
        body,
    )
    .into_response()
}
