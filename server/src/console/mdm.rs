//! Console sections of a device's page for the platforms managed over their own MDM protocol:
//!
//! - Apple: the MDM enrollment (UDID, topic, check-in times, last `DeviceInformation`), a form
//!   that queues a command (then pushes, as the admin API does) and the device's commands with
//!   their status and result, through `AppleService` (`queue_command`, `list_commands`,
//!   `mdm_view`);
//! - Windows: the enrollment kind, the bulk owner and, for a bulk-enrolled device, the "Assign
//!   to user" form, through `WindowsService` (`list`, `assign`): the service refuses a device
//!   its user enrolled, and the page shows its message.

use super::{admin_post, error_page, flash};
use crate::apple::AppleService;
use crate::http::{blocking, AppState, PathParam, Route};
use crate::web::{esc, fmt_time, redirect, Form, Lang};
use crate::windows::AssignRequest;
use crate::windows::WindowsService;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use enroll_proto::secret::SecretString;
use enroll_proto::{MdmRequestType, Platform, QueueCommandRequest};

/// The pages of this file.
pub(super) fn pages() -> Vec<Route> {
    vec![
        Route::new("POST", "/console/devices/{id}/mdm-command", post(queue_command)),
        Route::new("POST", "/console/devices/{id}/assign", post(assign)),
    ]
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The commands the console form offers (the others need a file or a profile identifier: the
/// admin API and the CLI take them).
const OFFERED: [MdmRequestType; 5] = [
    MdmRequestType::DeviceInformation,
    MdmRequestType::ProfileList,
    MdmRequestType::SecurityInfo,
    MdmRequestType::DeviceLock,
    MdmRequestType::RemoveProfile,
];

/// The platform's section of a device's page (empty for the agent's platforms).
pub(super) async fn section(core: &AppState, l: Lang, csrf: &str, id: &str, platform: Platform) -> String {
    match platform {
        Platform::Ios | Platform::Macos => apple_section(core, l, csrf, id).await,
        Platform::Windows => windows_section(core, l, csrf, id).await,
        _ => String::new(),
    }
}

fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

async fn apple_section(core: &AppState, l: Lang, csrf: &str, id: &str) -> String {
    let did = id.to_string();
    let got = blocking(core.clone(), move |s| {
        let a = AppleService(s);
        Ok((a.mdm_view(&did), a.list_commands(&did)?))
    })
    .await;
    let (view, commands) = match got {
        Ok(v) => v,
        Err(e) => return format!("<p class=\"error\" role=\"alert\">{}</p>", esc(&e.info.message)),
    };
    let title = format!("<h2>{}</h2>", l.t("Apple MDM", "MDM Apple"));
    let view = match view {
        Ok(v) => v,
        Err(_) => {
            return format!(
                "{title}<p class=\"note\" id=\"mdm-none\">{}</p>",
                l.t(
                    "This device has not checked in over Apple MDM yet: install the enrollment profile on it.",
                    "Cet appareil ne s'est pas encore signalé en MDM Apple : installez-y le profil d'inscription.",
                )
            )
        }
    };
    let opt = |t: Option<i64>| t.map(fmt_time).unwrap_or_else(|| "—".into());
    let info: String = view
        .device_information
        .iter()
        .map(|(k, v)| format!("<tr><td>{}</td><td>{}</td></tr>", esc(k), json_cell(v)))
        .collect();
    let facts = format!(
        "<div class=\"card\" id=\"mdm\"><p>UDID <span id=\"udid\">{}</span> · {} {}</p>\
<p>{} {} · {} {} · {} {}</p><p>{} {}{}{}</p></div>",
        esc(&view.udid),
        l.t("topic", "sujet"),
        esc(&view.topic),
        l.t("Authenticated:", "Authentifié :"),
        fmt_time(view.authenticated_at),
        l.t("MDM enabled (TokenUpdate):", "MDM activé (TokenUpdate) :"),
        opt(view.token_updated_at),
        l.t("Last check-in:", "Dernier contact :"),
        opt(view.last_seen_at),
        l.t("Push:", "Notification :"),
        if view.push_registered {
            l.t("registered", "enregistrée")
        } else {
            l.t("not registered", "non enregistrée")
        },
        view.checked_out_at
            .map(|t| format!(" · {} {}", l.t("Checked out:", "Désinscrit :"), fmt_time(t)))
            .unwrap_or_default(),
        view.removed_at
            .map(|t| format!(" · {} {}", l.t("Removed:", "Supprimé :"), fmt_time(t)))
            .unwrap_or_default(),
    );
    let info = format!(
        "<h3>{} ({})</h3><div class=\"table\"><table id=\"device-information\"><tbody>{info}</tbody></table></div>",
        l.t("Last DeviceInformation", "Dernier DeviceInformation"),
        opt(view.information_at),
    );
    let options: String = OFFERED
        .iter()
        .map(|t| format!("<option value=\"{0}\">{0}</option>", t.as_str()))
        .collect();
    let form = format!(
        "<h3>{}</h3><div class=\"card\"><form method=\"post\" action=\"/console/devices/{}/mdm-command\">{csrf}\
<label for=\"request_type\">{}</label><select id=\"request_type\" name=\"request_type\">{options}</select>\
<label for=\"identifier\">{}</label><input type=\"text\" id=\"identifier\" name=\"identifier\">\
<label for=\"message\">{}</label><input type=\"text\" id=\"message\" name=\"message\">\
<label for=\"phone_number\">{}</label><input type=\"text\" id=\"phone_number\" name=\"phone_number\">\
<label for=\"pin\">{}</label><input type=\"password\" id=\"pin\" name=\"pin\" autocomplete=\"off\" inputmode=\"numeric\">\
<label class=\"check\"><input type=\"checkbox\" name=\"managed_only\" value=\"1\"> {}</label><br>\
<button type=\"submit\" id=\"queue-command\">{}</button></form></div>",
        l.t("Send an MDM command", "Envoyer une commande MDM"),
        enc(id),
        l.t("Command", "Commande"),
        l.t("Profile identifier (RemoveProfile)", "Identifiant du profil (RemoveProfile)"),
        l.t("Lock screen message (DeviceLock)", "Message de l'écran verrouillé (DeviceLock)"),
        l.t("Lock screen phone number (DeviceLock)", "Numéro affiché à l'écran verrouillé (DeviceLock)"),
        l.t("Six-digit PIN (DeviceLock on a Mac)", "PIN à six chiffres (DeviceLock sur Mac)"),
        l.t("Managed profiles only (ProfileList)", "Profils gérés seulement (ProfileList)"),
        l.t("Queue the command", "Mettre la commande en file"),
    );
    let rows: String = commands
        .iter()
        .rev()
        .map(|c| {
            let result = if !c.error_chain.is_empty() {
                c.error_chain
                    .iter()
                    .map(|e| format!("{} {}: {}", e.domain, e.code, e.description))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                c.response.as_ref().map(|r| r.to_string()).unwrap_or_default()
            };
            let result = if result.chars().count() > 600 {
                format!("{}…", result.chars().take(600).collect::<String>())
            } else {
                result
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td><span class=\"state\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td class=\"result\">{}</td></tr>",
                esc(&c.request_type),
                esc(&c.origin),
                c.status.as_str(),
                fmt_time(c.queued_at),
                opt(c.sent_at),
                opt(c.answered_at),
                esc(&result),
            )
        })
        .collect();
    let list = format!(
        "<h3>{}</h3><div class=\"table\"><table id=\"commands\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table></div>",
        l.t("MDM commands (newest first)", "Commandes MDM (les plus récentes d'abord)"),
        l.t("Command", "Commande"),
        l.t("Origin", "Origine"),
        l.t("Status", "Statut"),
        l.t("Queued", "En file"),
        l.t("Sent", "Envoyée"),
        l.t("Answered", "Répondue"),
        l.t("Result", "Résultat"),
    );
    format!("{title}{facts}{info}{form}{list}")
}

async fn windows_section(core: &AppState, l: Lang, csrf: &str, id: &str) -> String {
    let title = format!("<h2>{}</h2>", l.t("Windows MDM", "MDM Windows"));
    let list = match blocking(core.clone(), |s| WindowsService(s).list()).await {
        Ok(v) => v,
        Err(e) => {
            return format!(
                "{title}<p class=\"error\" role=\"alert\">{}</p>",
                esc(&e.info.message)
            )
        }
    };
    let Some(w) = list
        .as_array()
        .and_then(|a| a.iter().find(|d| d["id"].as_str() == Some(id)))
    else {
        return format!(
            "{title}<p class=\"note\" id=\"windows-none\">{}</p>",
            l.t(
                "This device has not enrolled over MS-MDE2 yet.",
                "Cet appareil ne s'est pas encore inscrit par MS-MDE2.",
            )
        );
    };
    let s = |k: &str| w[k].as_str().unwrap_or("—").to_string();
    let bulk = w["bulk_enrolled"].as_bool().unwrap_or(false);
    let facts = format!(
        "<div class=\"card\" id=\"windows\"><p>{} {} · {} <span id=\"bulk-owner\">{}</span></p><p>{} {}</p></div>",
        l.t("Enrollment:", "Inscription :"),
        esc(&s("enrollment")),
        l.t("Bulk owner:", "Propriétaire d'inscription en masse :"),
        esc(&s("bulk_owner")),
        l.t("Certificate serial:", "Numéro de série du certificat :"),
        esc(&s("certificate_serial")),
    );
    let form = if bulk {
        format!(
            "<h3>{}</h3><div class=\"card\"><form method=\"post\" action=\"/console/devices/{}/assign\">{csrf}\
<label for=\"assign-user\">{}</label><input type=\"email\" id=\"assign-user\" name=\"user\" required>\
<p class=\"note\">{}</p><button type=\"submit\" id=\"assign\">{}</button></form></div>",
            l.t("Assign to user", "Attribuer à un utilisateur"),
            enc(id),
            l.t("The real user's e-mail", "E-mail de l'utilisateur réel"),
            l.t(
                "The user must change the password at the next sign-in on the device.",
                "L'utilisateur devra changer son mot de passe à sa prochaine connexion sur l'appareil.",
            ),
            l.t("Assign", "Attribuer"),
        )
    } else {
        format!(
            "<p class=\"note\" id=\"not-bulk\">{}</p>",
            l.t(
                "Enrolled by its user: Assign to user is only for bulk-enrolled devices.",
                "Inscrit par son utilisateur : l'attribution n'existe que pour les appareils inscrits en masse.",
            )
        )
    };
    format!("{title}{facts}{form}")
}

fn field(form: &Form, name: &str) -> Option<String> {
    form.get(name).filter(|v| !v.is_empty()).map(str::to_string)
}

async fn queue_command(
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
    let Some(request_type) = form
        .get("request_type")
        .and_then(MdmRequestType::parse)
        .filter(|t| OFFERED.contains(t))
    else {
        return error_page(
            l,
            &crate::error::ApiError::bad_request(
                "request_type must be DeviceInformation, ProfileList, SecurityInfo, DeviceLock or RemoveProfile",
            ),
        );
    };
    let mut req = QueueCommandRequest::new(request_type);
    req.managed_only = form.checked("managed_only");
    req.identifier = field(&form, "identifier");
    req.message = field(&form, "message");
    req.phone_number = field(&form, "phone_number");
    req.pin = form
        .raw("pin")
        .filter(|p| !p.is_empty())
        .map(|p| SecretString::new(p.to_string()));
    let did = id.clone();
    let pusher = core.pusher.clone();
    match blocking(core.clone(), move |s| AppleService(s).queue_command(&did, &req)).await {
        Ok((view, target)) => {
            if let Some(target) = target {
                // As the admin API: a failed push is not a failed queue.
                if let Err(e) = pusher.push(&target).await {
                    tracing::warn!(error = %e, provider = pusher.name(), "push not delivered");
                }
            }
            flash(
                &core,
                &adm,
                &format!(
                    "{} {}",
                    l.t("Command queued:", "Commande mise en file :"),
                    view.request_type
                ),
            );
            redirect(&format!("/console/devices/{}", enc(&id)))
        }
        Err(e) => error_page(l, &e),
    }
}

async fn assign(
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
    let req = AssignRequest {
        user: form.get("user").unwrap_or_default().trim().to_string(),
    };
    let did = id.clone();
    match blocking(core.clone(), move |s| WindowsService(s).assign(&did, &req)).await {
        Ok(v) => {
            flash(
                &core,
                &adm,
                &format!(
                    "{} {}",
                    l.t("Assigned to", "Attribué à"),
                    v["user"].as_str().unwrap_or("")
                ),
            );
            redirect(&format!("/console/devices/{}", enc(&id)))
        }
        Err(e) => error_page(l, &e),
    }
}
