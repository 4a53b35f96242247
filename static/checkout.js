// The card checkout: Stripe's Payment Element, confirmed with stripe.confirmPayment; or,
// with data-mode="setup", a card saved for automatic payments with stripe.confirmSetup.
// Stripe redirects to the return URL on success (and for wallets or 3-D Secure); the
// server then asks Stripe itself what happened. Only immediate errors come back here.
(function () {
  "use strict";
  var root = document.getElementById("stripe-checkout");
  if (!root || typeof window.Stripe !== "function") {
    return;
  }
  var data = root.dataset;
  var form = document.getElementById("payment-form");
  var message = document.getElementById("payment-message");
  var submit = document.getElementById("payment-submit");
  var stripe = window.Stripe(data.publishableKey);
  var elements = stripe.elements({ clientSecret: data.clientSecret, locale: data.locale });
  elements.create("payment").mount("#payment-element");
  form.hidden = false;

  function show(text) {
    message.textContent = text;
    message.hidden = false;
    message.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit.disabled = true;
    message.hidden = true;
    var confirm = data.mode === "setup" ? stripe.confirmSetup : stripe.confirmPayment;
    confirm
      .call(stripe, { elements: elements, confirmParams: { return_url: data.returnUrl } })
      .then(function (result) {
        if (result && result.error) {
          show(result.error.message || data.failed);
        }
      })
      .catch(function () {
        show(data.unavailable);
      })
      .finally(function () {
        submit.disabled = false;
      });
  });
})();
